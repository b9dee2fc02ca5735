//! The purge function binary: wiring only (see the crate's library).
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = avatar_runtime::start("purge").await?;
    avatar_runtime::serve_events(state, avatar_purge::handle).await
}
