//! The whole service in one process, wired like AWS wires it: the gateway
//! (every HTTP function's routes merged from the route table), an event
//! source mapping per queue, and the scheduled purge sweep.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use avatar_adapters::db::Database;
use avatar_adapters::Config;
use avatar_usecases::AppState;
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::bootstrap::{bootstrap, Resources};
use crate::event_source_mapping::EventSourceMapping;

/// The gateway: the routes of upload, get, metadata and delete, merged as
/// API Gateway routes them, the static pages from the web bucket, plus
/// `/health` and the JSON fallbacks.
pub fn gateway(state: Arc<AppState>) -> Router {
    let routes = avatar_upload::routes()
        .merge(avatar_get::routes())
        .merge(avatar_metadata::routes())
        .merge(avatar_delete::routes())
        .merge(crate::web::routes());
    avatar_http::service(routes, state)
}

/// Creates the database if needed, applies migrations and runs the AWS
/// bootstrap.
///
/// # Errors
/// Database or AWS failures.
pub async fn prepare(config: &Config) -> anyhow::Result<Resources> {
    Database::ensure_database(&config.database_url).await?;
    Database::migrate(&config.database_url).await?;
    let (s3, sqs) = avatar_adapters::aws::clients(config).await;
    bootstrap(config, &s3, &sqs).await
}

/// Resolves once the shutdown flag is true (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// How the local stack runs besides the service's own [`Config`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Period of the purge sweep; `None` runs none (tests call it).
    pub sweep_every: Option<Duration>,
    /// The upload queue's batching window (Lambda's
    /// `MaximumBatchingWindowInSeconds`): how long the thumbnail function's
    /// event source mapping gathers messages before invoking it.
    pub batching_window: Duration,
    /// Where to serve every function's metrics (`GET /metrics`, Prometheus
    /// text; `METRICS_ADDR`) and poll the gauges only `avatar-local` can
    /// see: the queues' depths, the pool, what the database holds. `None`
    /// serves and polls nothing.
    pub metrics_addr: Option<SocketAddr>,
}

/// How often the queue depths, the pool and the database inventory are
/// polled into their gauges.
pub const METRICS_POLL: Duration = Duration::from_secs(5);

/// A running stack.
pub struct Stack {
    /// Where the gateway listens.
    pub addr: SocketAddr,
    /// Where `GET /metrics` is served, when it is.
    pub metrics_addr: Option<SocketAddr>,
    /// The state every function shares.
    pub state: Arc<AppState>,
    /// Queues created by the bootstrap.
    pub resources: Resources,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Stack {
    /// Prepares resources, then serves the gateway on `addr` (port 0 picks a
    /// free port) and starts both event source mappings and, with
    /// `options.sweep_every`, the periodic purge sweep.
    ///
    /// # Errors
    /// Preparation or bind failures.
    pub async fn start(config: Config, addr: SocketAddr, options: Options) -> anyhow::Result<Self> {
        let resources = prepare(&config).await?;
        let state = AppState::new(config).await?;
        let (shutdown, rx) = watch::channel(false);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let mut tasks = Vec::new();

        let app = gateway(state.clone());
        let mut stop = rx.clone();
        tasks.push(tokio::spawn(async move {
            let serve = axum::serve(avatar_runtime::linger::LingeringListener(listener), app)
                .with_graceful_shutdown(async move {
                    stopped(&mut stop).await;
                });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "gateway stopped");
            }
        }));

        let thumbnails = EventSourceMapping {
            function: "thumbnail",
            queue: state.upload_queue.clone(),
            queue_arn: resources.upload.arn.clone(),
            batching_window: options.batching_window,
        };
        let s = state.clone();
        tasks.push(tokio::spawn(thumbnails.run(
            move |event| avatar_thumbnail::handle(s.clone(), event),
            rx.clone(),
        )));
        let purges = EventSourceMapping {
            function: "purge",
            queue: state.delete_queue.clone(),
            queue_arn: resources.delete.arn.clone(),
            batching_window: Duration::ZERO,
        };
        let s = state.clone();
        tasks.push(tokio::spawn(purges.run(
            move |event| avatar_purge::handle(s.clone(), avatar_purge::Invocation::Queue(event)),
            rx.clone(),
        )));

        if let Some(every) = options.sweep_every {
            let s = state.clone();
            let mut stop = rx.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await; // the first tick is immediate; sweep after one period
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            let purge = s.purge();
                            let sweep = purge.sweep().instrument(avatar_telemetry::sweep_span());
                            if let Err(e) = sweep.await {
                                tracing::error!(error = format!("{e:#}"), "sweep failed");
                            }
                        }
                        () = stopped(&mut stop) => break,
                    }
                }
            }));
        }
        let metrics_addr = match options.metrics_addr {
            Some(at) => Some(serve_metrics(&state, at, rx.clone(), &mut tasks).await?),
            None => None,
        };
        tracing::info!(addr = %addr, "local stack serving");
        Ok(Self {
            addr,
            metrics_addr,
            state,
            resources,
            shutdown,
            tasks,
        })
    }

    /// Stops the gateway, the mappings, the sweep and the metrics, waiting
    /// for them.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Serves `GET /metrics` on `addr` and polls the gauges every
/// [`METRICS_POLL`] until shutdown; returns the bound address.
async fn serve_metrics(
    state: &Arc<AppState>,
    addr: SocketAddr,
    rx: watch::Receiver<bool>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let mut stop = rx.clone();
    tasks.push(tokio::spawn(async move {
        let app = avatar_runtime::metrics_routes::<()>();
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            stopped(&mut stop).await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "metrics endpoint stopped");
        }
    }));
    let s = state.clone();
    let mut stop = rx;
    tasks.push(tokio::spawn(async move {
        let queues = [
            ("upload", s.upload_queue.clone()),
            ("delete", s.delete_queue.clone()),
            ("upload-dlq", s.upload_queue.dead_letter_queue()),
            ("delete-dlq", s.delete_queue.dead_letter_queue()),
        ];
        let mut tick = tokio::time::interval(METRICS_POLL);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stopped(&mut stop) => break,
            }
            for (label, queue) in &queues {
                match queue.depth().await {
                    Ok(n) => avatar_telemetry::metrics::queue_depth(label, n),
                    Err(e) => tracing::debug!(error = %e, queue = label, "queue depth unknown"),
                }
            }
            s.db.record_pool_metrics();
            if let Err(e) = s.db.record_inventory_metrics().await {
                tracing::debug!(error = %e, "inventory metrics not recorded");
            }
            if let Some(t) = avatar_telemetry::get() {
                t.upkeep();
            }
        }
    }));
    tracing::info!(addr = %bound, "metrics on /metrics");
    Ok(bound)
}
