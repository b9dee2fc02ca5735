//! Timestamps on the wire: RFC 3339 in UTC (contract, preamble).

use chrono::{DateTime, SecondsFormat, Utc};

/// `2026-11-21T10:00:00.123456Z`: RFC 3339, UTC, microseconds (PostgreSQL's
/// precision, so values round-trip through cursors).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}
