//! `avatar-local`: run the whole service locally, or one operator step.
//!
//! ```text
//! avatar-local [serve]     migrate + bootstrap, then serve the API and the web
//!                          pages on GATEWAY_ADDR with the event source mappings
//!                          (BATCH_WINDOW_SECONDS) and the purge sweep
//! avatar-local migrate     create the database if needed and apply migrations
//! avatar-local bootstrap   create the buckets, queues, DLQs and the notification,
//!                          and publish web-static/ into the web bucket
//! avatar-local sweep       run one purge sweep and print its report
//! avatar-local redrive     move the dead-letter queues' messages back to their
//!                          queues (after an outage; SQS's StartMessageMoveTask on AWS)
//! avatar-local publish     web-static/ and config.json into a web bucket (--bucket)
//! avatar-local backfill    after THUMBNAIL_SIZES changed: an AvatarProcessEvent for
//!                          every ready avatar missing a size (--per-second, --limit);
//!                          --rerender-before T: re-render every avatar with variants older than T
//! ```
//!
//! The service's own settings come from the environment ([`Config`]); the
//! options of `serve` may be given as flags or as their variables.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use avatar_adapters::db::Database;
use avatar_adapters::Config;
use avatar_local::event_source_mapping::MAX_BATCHING_WINDOW_SECONDS;
use avatar_local::stack::{prepare, Options, Stack};
use avatar_usecases::AppState;
use clap::{Parser, Subcommand};

/// The avatar service on a laptop: the gateway, the event source mappings
/// and the sweep in one process, and the operator steps.
#[derive(Debug, Parser)]
#[command(name = "avatar-local", version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    command: Option<Command>,
    /// `serve`'s options, when no command is given.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate and bootstrap, then serve the API and the web pages with the
    /// event source mappings and the periodic purge sweep.
    Serve(ServeArgs),
    /// Create the database if needed and apply the migrations.
    Migrate,
    /// Create the buckets, queues, dead-letter queues and the bucket
    /// notification, and publish the web pages into the web bucket.
    Bootstrap,
    /// Run one purge sweep and print its report as JSON.
    Sweep,
    /// Move every message of the dead-letter queues back to its queue (the
    /// upload DLQ to the upload queue, the delete DLQ to the delete queue)
    /// and print how many moved, as JSON: after an outage, once its cause
    /// is fixed.
    Redrive,
    /// After `THUMBNAIL_SIZES` changed: send an AvatarProcessEvent for every
    /// ready avatar missing a configured size (or its ThumbHash), at a
    /// bounded rate, and print how many as JSON. The running service's
    /// thumbnail function renders them. With `--rerender-before`, after a
    /// pipeline change: every avatar with older variants is re-rendered.
    Backfill(BackfillArgs),
    /// Publish `web-static/` (WEB_STATIC_DIR) and a `config.json` made from
    /// this environment's settings into a web bucket that exists (on AWS,
    /// the template's `WebBucketName` output) and print how many objects
    /// as JSON.
    Publish(PublishArgs),
}

#[derive(Debug, clap::Args)]
struct PublishArgs {
    /// The web bucket (default: WEB_BUCKET).
    #[arg(long)]
    bucket: Option<String>,
}

#[derive(Debug, clap::Args)]
struct BackfillArgs {
    /// Events sent per second at most.
    #[arg(long, default_value_t = avatar_usecases::backfill::BackfillPlan::DEFAULT_PER_SECOND,
          value_parser = clap::value_parser!(u32).range(1..))]
    per_second: u32,
    /// Events sent at most (default: all).
    #[arg(long)]
    limit: Option<usize>,
    /// Re-render instead: every ready avatar with a variant rendered before
    /// this time (RFC 3339, e.g. 2026-12-05T00:00:00Z: when the new version
    /// was deployed) has its variants rendered again and replaced.
    #[arg(long)]
    rerender_before: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address of the gateway.
    #[arg(long, env = "GATEWAY_ADDR", default_value = "127.0.0.1:9000")]
    addr: SocketAddr,
    /// Seconds between purge sweeps (at least 1).
    #[arg(long, env = "SWEEP_INTERVAL_SECONDS", default_value_t = 300)]
    sweep_interval: u64,
    /// The upload queue's batching window, seconds (Lambda's
    /// MaximumBatchingWindowInSeconds; at most 300).
    #[arg(long, env = "BATCH_WINDOW_SECONDS", default_value_t = 0)]
    batch_window: u64,
    /// Where every function's metrics are served (`GET /metrics`,
    /// Prometheus text); never on the API's port.
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9464")]
    metrics_addr: SocketAddr,
}

/// The command line, or the process ends: `--help` and `--version` print
/// and exit 0; a usage error (or an unparsable setting) prints one line and
/// exits 2.
fn parse_args() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            std::process::exit(0)
        }
        Err(e) => {
            let message = e.render().to_string();
            let line: Vec<&str> = message
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            eprintln!("avatar-local: {} (see --help)", line.join(" "));
            std::process::exit(2)
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    match command {
        Command::Serve(args) => {
            let options = Options {
                sweep_every: Some(Duration::from_secs(args.sweep_interval.max(1))),
                batching_window: Duration::from_secs(
                    args.batch_window.min(MAX_BATCHING_WINDOW_SECONDS),
                ),
                metrics_addr: Some(args.metrics_addr),
            };
            let stack = Stack::start(config, args.addr, options).await?;
            eprintln!("avatar service on http://{}", stack.addr);
            if let Some(metrics) = stack.metrics_addr {
                eprintln!("metrics on http://{metrics}/metrics");
            }
            avatar_runtime::shutdown_signal().await;
            stack.stop().await;
        }
        Command::Migrate => {
            Database::ensure_database(&config.database_url).await?;
            Database::migrate(&config.database_url).await?;
        }
        Command::Bootstrap => {
            prepare(&config).await?;
        }
        Command::Sweep => {
            let state = AppState::new(config).await?;
            let report = state.purge().sweep().await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Backfill(args) => {
            let state = AppState::new(config).await?;
            let plan = avatar_usecases::backfill::BackfillPlan {
                per_second: args.per_second,
                limit: args.limit,
                rerender_before: args.rerender_before,
            };
            let report = state.backfill().run(plan).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Publish(args) => {
            let state = AppState::new(config).await?;
            let web = match args.bucket {
                Some(bucket) => state.web.bucket_named(bucket),
                None => state.web.clone(),
            };
            let dir = avatar_local::web::static_dir();
            let objects = avatar_local::web::publish(&state.config, &web, &dir).await?;
            println!(
                "{}",
                serde_json::json!({"bucket": web.bucket(), "objects": objects})
            );
        }
        Command::Redrive => {
            let state = AppState::new(config).await?;
            let report = avatar_local::redrive(&state).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(())
}

/// Exit codes: 0 done, 1 the step failed (its cause chain on stderr), 2 a
/// usage error.
#[tokio::main]
async fn main() -> ExitCode {
    let cli = parse_args();
    let telemetry = avatar_telemetry::init(avatar_telemetry::Process::Local);
    let command = cli.command.unwrap_or(Command::Serve(cli.serve));
    let result = run(command).await;
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("avatar-local: {e:#}");
            ExitCode::FAILURE
        }
    }
}
