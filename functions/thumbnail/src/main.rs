//! The thumbnail function binary: wiring only (see the crate's library).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    avatar_shared::telemetry::init();
    let state = avatar_shared::AppState::from_env().await?;
    avatar_shared::runtime::serve_events(state, avatar_thumbnail::handle).await
}
