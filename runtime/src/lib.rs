//! `avatar-runtime`, the top layer: where a function runs, decided once at start-up (README, "Architecture"): on AWS
//! Lambda when `AWS_LAMBDA_RUNTIME_API` is set, otherwise as a plain HTTP
//! server on `$HOST:$PORT` (Knative, or by hand).
#![warn(missing_docs)]

pub mod events;
pub mod linger;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use lambda_http::tower::ServiceExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::events::Outcome;
use avatar_http::ApiError;
use avatar_usecases::app::AppState;

pub use avatar_telemetry::on_lambda;

/// The address for plain-HTTP mode: `HOST` (default `127.0.0.1`; Knative
/// manifests set `0.0.0.0`) and `PORT` (default 8080, Knative's convention).
///
/// # Errors
/// When `HOST`/`PORT` do not form a socket address.
pub fn listen_addr() -> anyhow::Result<SocketAddr> {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    Ok(format!("{host}:{port}").parse()?)
}

/// Resolves on Ctrl-C or SIGTERM (what Knative sends before stopping a pod).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Serves `router` over plain HTTP at `addr` until [`shutdown_signal`].
///
/// # Errors
/// When the address cannot be bound.
pub async fn listen(router: Router, addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(crate::linger::LingeringListener(listener), router)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// The cold start of a function binary: telemetry for `function` (one of
/// the route table's function names), then [`AppState::from_env`]. What
/// every `main` calls first.
///
/// # Errors
/// Configuration or database URL errors.
pub async fn start(function: &'static str) -> anyhow::Result<Arc<AppState>> {
    avatar_telemetry::init(avatar_telemetry::Process::Function(function));
    AppState::from_env().await
}

/// `GET /metrics`: every metric of the process as Prometheus text (HTTP
/// mode). Knative's pods are scraped here (`k8s-knative/podmonitor.yaml`);
/// the HTTPRoute never routes it to the public.
pub fn metrics_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            match avatar_telemetry::get().and_then(|t| t.render_metrics()) {
                Some(text) => (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    text,
                )
                    .into_response(),
                None => axum::http::StatusCode::NOT_FOUND.into_response(),
            }
        }),
    )
}

/// Drains histogram samples every [`avatar_telemetry::UPKEEP_EVERY`] for
/// as long as the process runs (HTTP mode).
pub fn spawn_metrics_upkeep() {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(avatar_telemetry::UPKEEP_EVERY);
        loop {
            tick.tick().await;
            if let Some(t) = avatar_telemetry::get() {
                t.upkeep();
            }
        }
    });
}

/// Runs an HTTP function's `routes` as [`avatar_http::service`]:
/// `lambda_http` behind API Gateway, flushing spans and metrics after each
/// invocation; or a plain HTTP server (see [`listen_addr`]) that also
/// serves `GET /metrics`.
///
/// # Errors
/// Runtime or bind failures.
pub async fn serve_http(routes: Router<Arc<AppState>>, state: Arc<AppState>) -> anyhow::Result<()> {
    if on_lambda() {
        let app = avatar_http::service(routes, state);
        let service = lambda_http::service_fn(move |request: lambda_http::Request| {
            let app = app.clone();
            async move {
                let response = app.oneshot(request).await;
                flush_after_invocation().await;
                response
            }
        });
        lambda_http::run(service)
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
    } else {
        spawn_metrics_upkeep();
        let app = avatar_http::service(routes.merge(metrics_routes()), state);
        listen(app, listen_addr()?).await
    }
}

/// What a Lambda invocation runs before it returns (Lambda freezes the
/// process afterwards): export the finished spans, write the metrics.
async fn flush_after_invocation() {
    if let Some(t) = avatar_telemetry::get() {
        t.flush().await;
    }
}

/// Runs an event function: `handler(state, event)` for every invocation,
/// each answering one [`Outcome`]. On Lambda, `event` is each invocation's
/// payload (an SQS event from the event source mapping, or a scheduled
/// event) and the outcome is the function's result. Over plain HTTP
/// (Knative), `POST /` takes either
///
/// * the same JSON payload (what `cargo lambda invoke`, a Knative
///   `PingSource` or an operator posts), answered with the outcome as JSON;
///   or
/// * one SQS message as a CloudEvent from Knative's SQS `IntegrationSource`
///   (`ce-type:` [`events::KNATIVE_SQS_EVENT_TYPE`]), handed over as a
///   one-record SQS event ([`events::sqs_event_from_cloud_event`]). A failed
///   message ([`Outcome::failed_messages`]) becomes **503**, so the source
///   leaves the message in the queue and SQS redelivers it (and, after
///   `maxReceiveCount`, moves it to the dead-letter queue).
///
/// A body that is not the expected JSON is 400; a handler error is 500.
/// `GET /health` is served next to it.
///
/// # Errors
/// Runtime or bind failures.
pub async fn serve_events<E, R, F, Fut>(state: Arc<AppState>, handler: F) -> anyhow::Result<()>
where
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(Arc<AppState>, E) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<Outcome<R>>> + Send + 'static,
{
    if on_lambda() {
        let service = lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<E>| {
            let invocation = handler(state.clone(), event.payload);
            async move {
                let outcome = invocation.await;
                flush_after_invocation().await;
                outcome.map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
            }
        });
        lambda_runtime::run(service)
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
    } else {
        let invoke_state = state.clone();
        let routes =
            Router::new().route(
                "/",
                post(move |headers: HeaderMap, body: Bytes| {
                    let invocation = handler.clone();
                    let state = invoke_state.clone();
                    async move {
                        invoke_over_http(|event| invocation(state, event), &headers, &body).await
                    }
                }),
            );
        listen(avatar_http::service(routes, state), listen_addr()?).await
    }
}

/// One plain-HTTP invocation of an event function (see [`serve_events`]).
async fn invoke_over_http<E, R, F, Fut>(
    handler: F,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Json<Outcome<R>>, ApiError>
where
    E: DeserializeOwned,
    F: FnOnce(E) -> Fut,
    Fut: Future<Output = anyhow::Result<Outcome<R>>>,
{
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let bad = |e: &dyn std::fmt::Display| ApiError::bad_request("Invalid event", e.to_string());
    let sqs_message = match (header("ce-type"), header("ce-id")) {
        (Some(events::KNATIVE_SQS_EVENT_TYPE), Some(id)) => Some(id.to_owned()),
        _ => None,
    };
    let event: E = match &sqs_message {
        Some(id) => {
            let body = std::str::from_utf8(body).map_err(|e| bad(&e))?;
            let event = events::sqs_event_from_cloud_event(id, body);
            serde_json::to_value(event)
                .and_then(serde_json::from_value)
                .map_err(|e| bad(&e))?
        }
        None => serde_json::from_slice(body).map_err(|e| bad(&e))?,
    };
    let outcome = handler(event)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    if sqs_message.is_some() && outcome.failed_messages() > 0 {
        return Err(ApiError::Unavailable(
            "the message failed; the source redelivers it".into(),
        ));
    }
    Ok(Json(outcome))
}
