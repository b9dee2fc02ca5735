//! The upload function binary: wiring only (see the crate's library).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = avatar_runtime::start("upload").await?;
    avatar_runtime::serve_http(avatar_upload::routes(), state).await
}
