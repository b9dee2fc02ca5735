//! Where a function runs, decided once at start-up (ARCHITECTURE.md): on AWS
//! Lambda when `AWS_LAMBDA_RUNTIME_API` is set, otherwise as a plain HTTP
//! server on `$HOST:$PORT` (Knative, or by hand).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::post;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::app::AppState;

/// True when started by the Lambda runtime.
pub fn on_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

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
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

/// Runs an HTTP function: `lambda_http` behind API Gateway, or a plain
/// HTTP server (see [`listen_addr`]).
///
/// # Errors
/// Runtime or bind failures.
pub async fn serve_http(router: Router) -> anyhow::Result<()> {
    if on_lambda() {
        lambda_http::run(router)
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
    } else {
        listen(router, listen_addr()?).await
    }
}

/// Runs an event function. On Lambda, `handler` gets each invocation's
/// payload (an SQS event from the event source mapping, or a scheduled
/// event). Over plain HTTP, `POST /` takes the same JSON payload and answers
/// with the handler's JSON result (500 JSON when it fails) (what a Knative SQS source or KEDA-driven
/// poller posts), next to `GET /health`.
///
/// # Errors
/// Runtime or bind failures.
pub async fn serve_events<E, R, F, Fut>(state: Arc<AppState>, handler: F) -> anyhow::Result<()>
where
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(E) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<R>> + Send + 'static,
{
    if on_lambda() {
        let service = lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<E>| {
            let handler = handler.clone();
            async move {
                handler(event.payload)
                    .await
                    .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
            }
        });
        lambda_runtime::run(service)
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
    } else {
        let routes = Router::new().route(
            "/",
            post(move |Json(event): Json<E>| {
                let handler = handler.clone();
                async move {
                    handler(event)
                        .await
                        .map(Json)
                        .map_err(|e| crate::http::ApiError::Internal(format!("{e:#}")))
                }
            }),
        );
        listen(crate::http::service(routes, state), listen_addr()?).await
    }
}
