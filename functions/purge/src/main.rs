//! The purge function binary: wiring only (see the crate's library).
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    avatar_shared::telemetry::init();
    let state = avatar_shared::AppState::from_env().await?;
    avatar_shared::runtime::serve_events(state, avatar_purge::handle).await
}
