//! The thumbnail function binary: wiring only (see the crate's library).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    avatar_shared::telemetry::init();
    let state = avatar_shared::AppState::from_env().await?;
    let handler_state = state.clone();
    avatar_shared::runtime::serve_events(state, move |event| {
        let state = handler_state.clone();
        async move { Ok(avatar_thumbnail::handle(state, event).await) }
    })
    .await
}
