//! The metadata function binary: wiring only (see the crate's library).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = avatar_shared::runtime::start("metadata").await?;
    avatar_shared::runtime::serve_http(avatar_metadata::routes(), state).await
}
