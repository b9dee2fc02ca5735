//! JSON log lines that join traces: one object per event on stdout, with
//! the fields of every span it happened in and, inside a span, the
//! OpenTelemetry `trace_id` and `span_id` (README, "Observability").
//!
//! ```json
//! {"timestamp":"…","level":"INFO","target":"avatar_thumbnail","fields":{"message":"thumbnails stored","variants":3},
//!  "span":{"name":"render_thumbnails","message_id":"…","avatar_id":"…"},"trace_id":"…","span_id":"…"}
//! ```

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The filter `RUST_LOG` describes: a default level and `target=level`
/// directives, comma-separated (`info`, `warn,avatar_adapters=debug`). Span
/// and field directives are not supported: `Targets` instead of
/// `EnvFilter` keeps the regex engine out of every function binary (about
/// 1 MB of the 15 MB budget). Unset or unparsable: `info`. It filters the
/// log lines only; traces and metrics have their own filter.
pub fn filter_from(rust_log: Option<&str>) -> Targets {
    rust_log
        .and_then(|value| value.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// The event formatter: see the module documentation. Span fields are read
/// as the JSON the `JsonFields` field formatter stored them in.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            avatar_domain::time::rfc3339(chrono::Utc::now()).into(),
        );
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        line.insert("fields".into(), fields.into());
        if let Some(scope) = ctx.event_scope() {
            let mut span_fields = Map::new();
            let mut leaf = None;
            for span in scope.from_root() {
                leaf = Some((span.id(), span.name()));
                if let Some(stored) = span.extensions().get::<FormattedFields<JsonFields>>() {
                    if let Ok(Value::Object(map)) = serde_json::from_str(stored) {
                        span_fields.extend(map);
                    }
                }
            }
            if let Some((id, name)) = leaf {
                span_fields.insert("name".into(), name.into());
                line.insert("span".into(), span_fields.into());
                // Not while holding a span's extensions: the OpenTelemetry
                // layer locks them to read the context.
                let cx = tracing::dispatcher::get_default(|d| {
                    tracing_opentelemetry::get_otel_context(&id, d)
                });
                if let Some(cx) = cx {
                    let span = cx.span();
                    let sc = span.span_context();
                    if sc.is_valid() {
                        line.insert("trace_id".into(), sc.trace_id().to_string().into());
                        line.insert("span_id".into(), sc.span_id().to_string().into());
                    }
                }
            }
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Records an event's fields into a JSON object.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_directives() {
        let f = filter_from(Some("warn,avatar_adapters=debug"));
        assert!(f.would_enable("avatar_adapters::db", &Level::DEBUG));
        assert!(!f.would_enable("avatar_usecases::purge", &Level::DEBUG));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(f.would_enable("aws_smithy_runtime", &Level::WARN));
        let default = filter_from(None);
        assert!(default.would_enable("anything", &Level::INFO));
        assert!(!default.would_enable("anything", &Level::DEBUG));
    }
}
