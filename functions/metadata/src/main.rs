//! The metadata function binary: wiring only (see the crate's library).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    avatar_shared::telemetry::init();
    let state = avatar_shared::AppState::from_env().await?;
    let app = avatar_shared::http::service(avatar_metadata::routes(), state);
    avatar_shared::runtime::serve_http(app).await
}
