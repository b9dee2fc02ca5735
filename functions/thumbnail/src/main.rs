//! The thumbnail function binary: wiring only (see the crate's library).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = avatar_shared::runtime::start("thumbnail").await?;
    avatar_shared::runtime::serve_events(state, avatar_thumbnail::handle).await
}
