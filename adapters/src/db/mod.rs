//! PostgreSQL: the connection pool, migrations and every SQL statement of the
//! service (no SQL lives anywhere else), split by aggregate:
//!
//! * [`avatars`]: the avatar rows, with the visibility and current-avatar
//!   rules (one SQL definition each, and their Rust predicates);
//! * [`variants`]: the stored variants of an avatar, and their ETags;
//! * [`uploads`]: direct (presigned) uploads, from `uploading` to
//!   `processing`, and their expiry.
//!
//! Every statement is a `&'static str` prepared once per connection
//! (`prepare_cached`) and read back through [`FromRow`]; domain types go in
//! and come out through their `ToSql`/`FromSql` conversions, so a stored
//! value that does not parse is [`DbError::Corrupt`], never a default.

pub mod avatars;
mod backfill;
pub mod retries;
pub mod tls;
pub mod uploads;
pub mod variants;

use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::Row;
use tracing::Instrument;

pub use avatars::{AvatarRow, Inserted, ListCursor, NewAvatar, IDEMPOTENCY_WINDOW_HOURS};
pub use uploads::PendingUpload;
pub use variants::VariantRow;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// A database failure: 503 when [`DbError::is_transient`], else 500.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had from the pool in time (the server is
    /// unreachable, or every connection is busy).
    #[error("database unavailable")]
    Unavailable(#[from] deadpool_postgres::PoolError),
    /// A statement failed: on the connection (closed, timed out) or in the
    /// server (a constraint, an SQL error, a shutdown).
    #[error("database statement failed")]
    Query(#[from] tokio_postgres::Error),
    /// A stored value does not parse into its domain type.
    #[error("corrupt row: {column}: {reason}")]
    Corrupt {
        /// The column read.
        column: &'static str,
        /// Why its value was refused.
        reason: String,
    },
    /// Connection settings or migrations failed.
    #[error("database setup failed: {0}")]
    Setup(String),
}

impl DbError {
    /// Whether retrying later may succeed: no connection, a connection that
    /// broke, or the server's connection, resource, shutdown and
    /// concurrency classes of SQLSTATE (08, 53, 57P, 40001, 40P01). A
    /// constraint violation or an SQL error is not: that is a bug (500).
    pub fn is_transient(&self) -> bool {
        match self {
            // A connection the server refused (authentication, pg_hba.conf,
            // a database that does not exist) is a configuration fault.
            Self::Unavailable(deadpool_postgres::PoolError::Backend(e)) | Self::Query(e) => {
                transient(e)
            }
            Self::Unavailable(_) => true,
            Self::Corrupt { .. } | Self::Setup(_) => false,
        }
    }
}

/// [`DbError::is_transient`] of one tokio-postgres error.
fn transient(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            ["08", "53", "57P"]
                .iter()
                .any(|class| code.starts_with(class))
                || code == "40001"
                || code == "40P01"
        }
        None => e.is_closed() || io_cause(e),
    }
}

/// Whether an I/O error (refused, reset, timed out) is among `e`'s causes.
fn io_cause(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = e.source();
    while let Some(c) = cause {
        if c.is::<std::io::Error>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// How long to wait for a connection (pool wait, create and recycle), seconds.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// Statement parameters, as `tokio-postgres` takes them.
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A type read from one result row.
pub trait FromRow: Sized {
    /// Builds the value from `row`.
    ///
    /// # Errors
    /// [`DbError::Corrupt`] when a column does not parse.
    fn from_row(row: &Row) -> Result<Self, DbError>;
}

/// Column `column` of `row` as `T`; a value that does not convert is
/// [`DbError::Corrupt`].
fn column<'a, T: FromSql<'a>>(row: &'a Row, column: &'static str) -> Result<T, DbError> {
    row.try_get(column).map_err(|e| DbError::Corrupt {
        column,
        reason: std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string),
    })
}

/// The operation and table of a statement, from its text: `("SELECT",
/// "avatars")`. What its span says (never the parameters).
fn summarize(sql: &'static str) -> (&'static str, &'static str) {
    let operation = sql.split_whitespace().next().unwrap_or("SQL");
    let after = match operation {
        "INSERT" => " INTO ",
        "UPDATE" => "UPDATE ",
        _ => " FROM ",
    };
    let table = sql
        .find(after)
        .map(|at| &sql[at + after.len()..])
        .and_then(|rest| {
            rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
        })
        .filter(|t| !t.is_empty())
        .unwrap_or("");
    (operation, table)
}

/// The client span of one statement (OpenTelemetry's database
/// conventions: `db.system.name`, `db.operation.name`,
/// `db.collection.name`), only inside a span: the metrics poller's
/// queries start no trace.
fn statement_span(sql: &'static str) -> tracing::Span {
    if tracing::Span::current().is_none() {
        return tracing::Span::none();
    }
    let (operation, table) = summarize(sql);
    tracing::info_span!(
        "db_statement",
        otel.name = %format!("{operation} {table}"),
        otel.kind = "client",
        db.system.name = "postgresql",
        db.operation.name = operation,
        db.collection.name = table,
    )
}

/// One statement on a pooled client or inside a transaction, prepared once
/// per connection and cached there.
async fn prepared(
    client: &impl GenericClient,
    sql: &'static str,
) -> Result<tokio_postgres::Statement, DbError> {
    Ok(client.prepare_cached(sql).await?)
}

/// Every row of `sql` as `T`.
async fn fetch_all<T: FromRow>(
    client: &impl GenericClient,
    sql: &'static str,
    params: Params<'_>,
) -> Result<Vec<T>, DbError> {
    async {
        let statement = prepared(client, sql).await?;
        client
            .query(&statement, params)
            .await?
            .iter()
            .map(T::from_row)
            .collect()
    }
    .instrument(statement_span(sql))
    .await
}

/// The row of `sql`, if any, as `T`.
async fn fetch_opt<T: FromRow>(
    client: &impl GenericClient,
    sql: &'static str,
    params: Params<'_>,
) -> Result<Option<T>, DbError> {
    async {
        let statement = prepared(client, sql).await?;
        client
            .query_opt(&statement, params)
            .await?
            .as_ref()
            .map(T::from_row)
            .transpose()
    }
    .instrument(statement_span(sql))
    .await
}

/// Runs `sql`; the number of rows it changed.
async fn execute(
    client: &impl GenericClient,
    sql: &'static str,
    params: Params<'_>,
) -> Result<u64, DbError> {
    async {
        let statement = prepared(client, sql).await?;
        Ok(client.execute(&statement, params).await?)
    }
    .instrument(statement_span(sql))
    .await
}

/// The pool and the repository methods (in [`avatars`], [`variants`] and
/// [`uploads`]).
#[derive(Clone)]
pub struct Database {
    pool: Pool,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("Database")
            .field("size", &status.size)
            .field("available", &status.available)
            .finish()
    }
}

/// `url`'s settings (with [`POOL_TIMEOUT`] to connect) and TLS ([`tls`]).
fn connection(url: &str) -> Result<tls::Connection, DbError> {
    let mut connection = tls::connection(url).map_err(DbError::Setup)?;
    connection.config.connect_timeout(POOL_TIMEOUT);
    Ok(connection)
}

impl Database {
    /// Builds the pool (no connection is opened until first use).
    ///
    /// # Errors
    /// [`DbError::Setup`] when the URL does not parse.
    pub fn connect(url: &str, pool_size: usize) -> Result<Self, DbError> {
        let connection = connection(url)?;
        let manager = Manager::from_config(
            connection.config,
            connection.tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(|e| DbError::Setup(e.to_string()))?;
        Ok(Self { pool })
    }

    /// Creates the database named in `url` when it does not exist, by
    /// connecting to the `postgres` maintenance database of the same server.
    ///
    /// # Errors
    /// [`DbError`] when the server is unreachable or refuses.
    pub async fn ensure_database(url: &str) -> Result<(), DbError> {
        let tls::Connection { config, tls, .. } = connection(url)?;
        let name = config
            .get_dbname()
            .ok_or_else(|| DbError::Setup("DATABASE_URL names no database".into()))?
            .to_owned();
        let mut admin = config.clone();
        admin.dbname("postgres");
        let (client, conn) = admin.connect(tls).await?;
        let conn = tokio::spawn(conn);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await?
            .is_some();
        if !exists {
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            match client
                .batch_execute(&format!("CREATE DATABASE {quoted}"))
                .await
            {
                Ok(()) => {}
                // Created concurrently by another process: fine.
                Err(e)
                    if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
                Err(e) => return Err(e.into()),
            }
        }
        drop(client);
        let _ = conn.await;
        Ok(())
    }

    /// Applies pending migrations from `migrations/` (embedded at build time).
    ///
    /// # Errors
    /// [`DbError`] when connecting or a migration fails.
    pub async fn migrate(url: &str) -> Result<(), DbError> {
        let tls::Connection { config, tls, .. } = connection(url)?;
        let (mut client, conn) = config.connect(tls).await?;
        let conn = tokio::spawn(conn);
        let report = embedded::migrations::runner()
            .run_async(&mut client)
            .await
            .map_err(|e| DbError::Setup(format!("migration failed: {e}")))?;
        for m in report.applied_migrations() {
            tracing::info!(migration = %m, "applied migration");
        }
        drop(client);
        let _ = conn.await;
        Ok(())
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, DbError> {
        Ok(self.pool.get().await?)
    }

    /// `SELECT 1`, for the health check.
    ///
    /// # Errors
    /// [`DbError`] when the database does not answer.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Records the pool's connections (in use, idle) and waiting tasks as
    /// metrics.
    pub fn record_pool_metrics(&self) {
        let status = self.pool.status();
        avatar_telemetry::metrics::db_pool(
            status.size.saturating_sub(status.available),
            status.available,
            status.waiting,
        );
    }

    /// Every row of `sql` as `T`, on a pooled connection.
    async fn all<T: FromRow>(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Vec<T>, DbError> {
        fetch_all(&self.client().await?, sql, params).await
    }

    /// The row of `sql`, if any, as `T`, on a pooled connection.
    async fn opt<T: FromRow>(
        &self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Option<T>, DbError> {
        fetch_opt(&self.client().await?, sql, params).await
    }

    /// Runs `sql` on a pooled connection; the number of rows it changed.
    async fn run(&self, sql: &'static str, params: Params<'_>) -> Result<u64, DbError> {
        execute(&self.client().await?, sql, params).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_summarized_without_their_parameters() {
        assert_eq!(
            summarize("SELECT id, user_id FROM avatars WHERE id = $1"),
            ("SELECT", "avatars")
        );
        assert_eq!(
            summarize("INSERT INTO avatar_variants (avatar_id) SELECT $1 WHERE EXISTS (SELECT 1 FROM avatars)"),
            ("INSERT", "avatar_variants")
        );
        assert_eq!(
            summarize("UPDATE avatars SET status = $2 WHERE id = $1"),
            ("UPDATE", "avatars")
        );
        assert_eq!(
            summarize("DELETE FROM avatars WHERE id = $1"),
            ("DELETE", "avatars")
        );
    }
}
