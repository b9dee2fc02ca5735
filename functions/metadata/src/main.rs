//! The metadata function binary: wiring only (see the crate's library).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = avatar_runtime::start("metadata").await?;
    avatar_runtime::serve_http(avatar_metadata::routes(), state).await
}
