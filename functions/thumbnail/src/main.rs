//! The thumbnail function binary: wiring only (see the crate's library).

// The handler's future nests deeply (batch → message → direct upload →
// render); computing its layout needs more than the default 128 levels.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = avatar_runtime::start("thumbnail").await?;
    avatar_runtime::serve_events(state, avatar_thumbnail::handle).await
}
