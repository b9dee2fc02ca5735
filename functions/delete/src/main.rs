//! The delete function binary: wiring only (see the crate's library).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = avatar_runtime::start("delete").await?;
    avatar_runtime::serve_http(avatar_delete::routes(), state).await
}
