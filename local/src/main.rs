//! `avatar-local`: run the whole service locally, or one operator step.
//!
//! ```text
//! avatar-local serve       migrate + bootstrap, then serve the API and the web
//!                          pages on GATEWAY_ADDR with the event source mappings
//!                          (BATCH_WINDOW_SECONDS) and the purge sweep
//! avatar-local migrate     create the database if needed and apply migrations
//! avatar-local bootstrap   create the buckets, queues, DLQs and the notification,
//!                          and publish web-static/ into the web bucket
//! avatar-local sweep       run one purge sweep and print its report
//! ```

use std::time::Duration;

use anyhow::Context;
use avatar_local::event_source_mapping::MAX_BATCHING_WINDOW_SECONDS;
use avatar_local::stack::{prepare, Options, Stack};
use avatar_shared::db::Database;
use avatar_shared::{AppState, Config};

const USAGE: &str = "usage: avatar-local [serve|migrate|bootstrap|sweep]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    avatar_shared::telemetry::init();
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".into());
    let config = Config::from_env()?;
    match command.as_str() {
        "serve" => {
            let addr = std::env::var("GATEWAY_ADDR")
                .unwrap_or_else(|_| "127.0.0.1:9000".into())
                .parse()
                .context("GATEWAY_ADDR")?;
            let sweep_every: u64 = std::env::var("SWEEP_INTERVAL_SECONDS")
                .unwrap_or_else(|_| "300".into())
                .parse()
                .context("SWEEP_INTERVAL_SECONDS")?;
            let batching_window: u64 = std::env::var("BATCH_WINDOW_SECONDS")
                .unwrap_or_else(|_| "0".into())
                .parse()
                .context("BATCH_WINDOW_SECONDS")?;
            let options = Options {
                sweep_every: Some(Duration::from_secs(sweep_every.max(1))),
                batching_window: Duration::from_secs(
                    batching_window.min(MAX_BATCHING_WINDOW_SECONDS),
                ),
            };
            let stack = Stack::start(config, addr, options).await?;
            eprintln!("avatar service on http://{}", stack.addr);
            avatar_shared::runtime::shutdown_signal().await;
            stack.stop().await;
        }
        "migrate" => {
            Database::ensure_database(&config.database_url).await?;
            Database::migrate(&config.database_url).await?;
        }
        "bootstrap" => {
            prepare(&config).await?;
        }
        "sweep" => {
            let state = AppState::new(config).await?;
            let report = avatar_purge::sweep(&state).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        _ => anyhow::bail!("{USAGE}"),
    }
    Ok(())
}
