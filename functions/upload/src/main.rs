//! The upload function binary: wiring only (see the crate's library).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = avatar_shared::runtime::start("upload").await?;
    avatar_shared::runtime::serve_http(avatar_upload::routes(), state).await
}
