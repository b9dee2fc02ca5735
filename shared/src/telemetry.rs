//! Logging: one `init` that installs a JSON `tracing` subscriber.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter `RUST_LOG` describes: a default level and `target=level`
/// directives, comma-separated (`info`, `warn,avatar_shared=debug`). Span
/// and field directives are not supported: `Targets` instead of
/// `EnvFilter` keeps the regex engine out of every function binary (about
/// 1 MB of the 15 MB budget, issue 5). Unset or unparsable: `info`.
pub fn filter_from(rust_log: Option<&str>) -> Targets {
    rust_log
        .and_then(|value| value.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// Installs the global subscriber: JSON lines on stdout (CloudWatch and
/// Knative both collect stdout), level from `RUST_LOG` ([`filter_from`]),
/// with the current span's fields (avatar_id, user_id) on every event.
/// Calling it twice is harmless (tests).
pub fn init() {
    let filter = filter_from(std::env::var("RUST_LOG").ok().as_deref());
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true);
    let _ = tracing_subscriber::registry()
        .with(json)
        .with(filter)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_directives() {
        let f = filter_from(Some("warn,avatar_shared=debug"));
        assert!(f.would_enable("avatar_shared::db", &Level::DEBUG));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(f.would_enable("aws_smithy_runtime", &Level::WARN));
        let default = filter_from(None);
        assert!(default.would_enable("anything", &Level::INFO));
        assert!(!default.would_enable("anything", &Level::DEBUG));
    }
}
