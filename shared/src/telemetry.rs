//! Logging: one `init` that installs a JSON `tracing` subscriber.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: JSON lines on stdout (CloudWatch and
/// Knative both collect stdout), level from `RUST_LOG` (default `info`),
/// with the current span's fields (avatar_id, user_id) on every event.
/// Calling it twice is harmless (tests).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .try_init();
}
