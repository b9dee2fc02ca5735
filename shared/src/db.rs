//! PostgreSQL: the connection pool, migrations and every SQL statement of the
//! service (no SQL lives anywhere else).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use crate::domain::{AvatarId, ImageFormat, Size, Status, UserId, Variant};

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// A database failure. Maps to 503 (unreachable) or 500 (anything else).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had from the pool in time.
    #[error("database unavailable: {0}")]
    Unavailable(#[from] deadpool_postgres::PoolError),
    /// A statement failed.
    #[error("database query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
    /// A stored value does not parse into its domain type.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Connection settings or migrations failed.
    #[error("database setup failed: {0}")]
    Setup(String),
}

/// How long to wait for a connection (pool wait, create and recycle), seconds.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an `Idempotency-Key` is honoured (contract, "Upload": 24 h).
pub const IDEMPOTENCY_WINDOW_HOURS: i32 = 24;

/// One avatar row (deleted rows only reach callers that ask for them).
#[derive(Debug, Clone)]
pub struct AvatarRow {
    /// Id.
    pub id: AvatarId,
    /// Owner.
    pub user_id: UserId,
    /// File name as uploaded (sanitised), for metadata.
    pub file_name: String,
    /// Stored format of the original.
    pub format: ImageFormat,
    /// Bytes of the stored original.
    pub size_bytes: i64,
    /// Displayed width, pixels.
    pub width: i32,
    /// Displayed height, pixels.
    pub height: i32,
    /// Key of the original.
    pub s3_key: String,
    /// Processing status.
    pub status: Status,
    /// Upload time.
    pub created_at: DateTime<Utc>,
    /// Last status change.
    pub updated_at: DateTime<Utc>,
    /// Soft-delete time.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// One stored variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantRow {
    /// Size and format.
    pub variant: Variant,
    /// Object key.
    pub s3_key: String,
    /// Bytes.
    pub size_bytes: i64,
    /// Width, pixels.
    pub width: i32,
    /// Height, pixels.
    pub height: i32,
    /// Strong ETag value without quotes: a hash of the bytes.
    pub etag: String,
}

/// A new upload to record; the original is stored as its first variant.
#[derive(Debug, Clone)]
pub struct NewAvatar {
    /// Row fields (`status` is always `processing`, timestamps `now()`).
    pub id: AvatarId,
    /// Owner.
    pub user_id: UserId,
    /// Sanitised file name.
    pub file_name: String,
    /// `Idempotency-Key` header, ≤ 128 characters.
    pub idempotency_key: Option<String>,
    /// The stored original.
    pub original: VariantRow,
}

/// Outcome of [`Database::insert_avatar`].
#[derive(Debug)]
pub enum Inserted {
    /// A new row.
    Created(AvatarRow),
    /// The same user used the same `Idempotency-Key` within 24 h: the earlier
    /// avatar, nothing inserted.
    Replayed(AvatarRow),
}

/// Keyset position in a user's list: newest first by `(created_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    /// `created_at` of the last item returned.
    pub created_at: DateTime<Utc>,
    /// Id of the last item returned.
    pub id: Uuid,
}

/// The pool and the repository methods.
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

const AVATAR_COLUMNS: &str = "id, user_id, file_name, mime_type, size_bytes, width, height, \
     s3_key, status, created_at, updated_at, deleted_at";
const VARIANT_COLUMNS: &str = "size, format, s3_key, size_bytes, width, height, etag";

fn parse_pg_config(url: &str) -> Result<tokio_postgres::Config, DbError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| DbError::Setup(format!("DATABASE_URL: {e}")))?;
    config.connect_timeout(POOL_TIMEOUT);
    Ok(config)
}

impl Database {
    /// Builds the pool (no connection is opened until first use).
    ///
    /// # Errors
    /// [`DbError::Setup`] when the URL does not parse.
    pub fn connect(url: &str, pool_size: usize) -> Result<Self, DbError> {
        let manager = Manager::from_config(
            parse_pg_config(url)?,
            NoTls,
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
        let config = parse_pg_config(url)?;
        let name = config
            .get_dbname()
            .ok_or_else(|| DbError::Setup("DATABASE_URL names no database".into()))?
            .to_owned();
        let mut admin = config.clone();
        admin.dbname("postgres");
        let (client, conn) = admin.connect(NoTls).await?;
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
        let (mut client, conn) = parse_pg_config(url)?.connect(NoTls).await?;
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

    /// Records a new upload (row + its original variant) in one transaction.
    /// With an `Idempotency-Key` already used by the same user within 24 h,
    /// inserts nothing and returns the earlier row.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn insert_avatar(&self, new: &NewAvatar) -> Result<Inserted, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if let Some(key) = &new.idempotency_key {
            tx.execute(
                "UPDATE avatars SET idempotency_key = NULL \
                 WHERE user_id = $1 AND idempotency_key = $2 \
                   AND created_at < now() - make_interval(hours => $3)",
                &[&new.user_id.as_str(), key, &IDEMPOTENCY_WINDOW_HOURS],
            )
            .await?;
        }
        let row = tx
            .query_opt(
                &format!(
                    "INSERT INTO avatars (id, user_id, file_name, mime_type, size_bytes, width, \
                       height, s3_key, idempotency_key) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL \
                     DO NOTHING RETURNING {AVATAR_COLUMNS}"
                ),
                &[
                    &new.id.0,
                    &new.user_id.as_str(),
                    &new.file_name,
                    &new.original.variant.format.mime(),
                    &new.original.size_bytes,
                    &new.original.width,
                    &new.original.height,
                    &new.original.s3_key,
                    &new.idempotency_key,
                ],
            )
            .await?;
        let Some(row) = row else {
            // The key is taken: answer with its avatar, on this same
            // connection (a second one could wait on a pool of size 1).
            let key = new.idempotency_key.as_deref().unwrap_or_default();
            let existing = tx
                .query_opt(
                    &find_idempotent_sql(),
                    &[&new.user_id.as_str(), &key, &IDEMPOTENCY_WINDOW_HOURS],
                )
                .await?
                .ok_or_else(|| DbError::Corrupt("idempotency conflict without a row".into()))?;
            return Ok(Inserted::Replayed(avatar_from_row(&existing)?));
        };
        upsert_variant_on(&*tx, new.id, &new.original).await?;
        tx.commit().await?;
        Ok(Inserted::Created(avatar_from_row(&row)?))
    }

    /// The avatar a user created with `key` within the last 24 h, deleted or not.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn find_idempotent(
        &self,
        user_id: &UserId,
        key: &str,
    ) -> Result<Option<AvatarRow>, DbError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &find_idempotent_sql(),
                &[&user_id.as_str(), &key, &IDEMPOTENCY_WINDOW_HOURS],
            )
            .await?;
        row.as_ref().map(avatar_from_row).transpose()
    }

    /// Records a direct upload about to be sent to `incoming_key`: status
    /// `uploading`, the client's declared type and size, no dimensions yet.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn insert_pending_upload(
        &self,
        id: AvatarId,
        user_id: &UserId,
        file_name: &str,
        format: ImageFormat,
        declared_bytes: i64,
        incoming_key: &str,
    ) -> Result<AvatarRow, DbError> {
        let row = self
            .client()
            .await?
            .query_one(
                &format!(
                    "INSERT INTO avatars (id, user_id, file_name, mime_type, size_bytes, width, \
                       height, s3_key, status) \
                     VALUES ($1, $2, $3, $4, $5, 0, 0, $6, 'uploading') RETURNING {AVATAR_COLUMNS}"
                ),
                &[
                    &id.0,
                    &user_id.as_str(),
                    &file_name,
                    &format.mime(),
                    &declared_bytes,
                    &incoming_key,
                ],
            )
            .await?;
        avatar_from_row(&row)
    }

    /// Completes a direct upload whose file passed validation: the row takes
    /// the stored original's format, size, dimensions and key, becomes
    /// `processing`, and gets its original variant row, in one transaction.
    /// `false` when the row is not (or no longer) an `uploading` one.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn complete_upload(
        &self,
        id: AvatarId,
        original: &VariantRow,
    ) -> Result<bool, DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE avatars SET status = 'processing', mime_type = $2, size_bytes = $3, \
                   width = $4, height = $5, s3_key = $6, updated_at = now() \
                 WHERE id = $1 AND status = 'uploading' AND deleted_at IS NULL",
                &[
                    &id.0,
                    &original.variant.format.mime(),
                    &original.size_bytes,
                    &original.width,
                    &original.height,
                    &original.s3_key,
                ],
            )
            .await?;
        if n == 0 {
            return Ok(false);
        }
        upsert_variant_on(&*tx, id, original).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Soft-deletes direct uploads still `uploading` after `older_than`
    /// (their URL expired unused) and returns them for purging.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn expire_uploads(&self, older_than: Duration) -> Result<Vec<AvatarRow>, DbError> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "UPDATE avatars SET deleted_at = now(), updated_at = now() \
                     WHERE status = 'uploading' AND deleted_at IS NULL \
                       AND created_at <= now() - make_interval(secs => $1) \
                     RETURNING {AVATAR_COLUMNS}"
                ),
                &[&older_than.as_secs_f64()],
            )
            .await?;
        rows.iter().map(avatar_from_row).collect()
    }

    /// Removes a row whose original could not be stored (upload rollback).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn remove_unstored(&self, id: AvatarId) -> Result<(), DbError> {
        self.client()
            .await?
            .execute("DELETE FROM avatars WHERE id = $1", &[&id.0])
            .await?;
        Ok(())
    }

    /// A row by id, including soft-deleted ones.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn avatar(&self, id: AvatarId) -> Result<Option<AvatarRow>, DbError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {AVATAR_COLUMNS} FROM avatars WHERE id = $1"),
                &[&id.0],
            )
            .await?;
        row.as_ref().map(avatar_from_row).transpose()
    }

    /// A row by id unless soft-deleted.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn visible_avatar(&self, id: AvatarId) -> Result<Option<AvatarRow>, DbError> {
        Ok(self
            .avatar(id)
            .await?
            .filter(|a| a.deleted_at.is_none() && a.status != Status::Uploading))
    }

    /// The user's current avatar: the newest row that is neither deleted nor
    /// `failed` (a failed upload never replaces a working avatar).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn current_avatar(&self, user_id: &UserId) -> Result<Option<AvatarRow>, DbError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {AVATAR_COLUMNS} FROM avatars \
                     WHERE user_id = $1 AND deleted_at IS NULL \
                       AND status NOT IN ('failed', 'uploading') \
                     ORDER BY created_at DESC, id DESC LIMIT 1"
                ),
                &[&user_id.as_str()],
            )
            .await?;
        row.as_ref().map(avatar_from_row).transpose()
    }

    /// One stored variant of an avatar.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn variant(
        &self,
        id: AvatarId,
        variant: Variant,
    ) -> Result<Option<VariantRow>, DbError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {VARIANT_COLUMNS} FROM avatar_variants \
                     WHERE avatar_id = $1 AND size = $2 AND format = $3"
                ),
                &[&id.0, &variant.size.as_str(), &variant.format.as_str()],
            )
            .await?;
        row.as_ref().map(variant_from_row).transpose()
    }

    /// Every stored variant of each of `ids`.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn variants(
        &self,
        ids: &[AvatarId],
    ) -> Result<HashMap<AvatarId, Vec<VariantRow>>, DbError> {
        let uuids: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT avatar_id, {VARIANT_COLUMNS} FROM avatar_variants \
                     WHERE avatar_id = ANY($1) ORDER BY avatar_id, size, format"
                ),
                &[&uuids],
            )
            .await?;
        let mut out: HashMap<AvatarId, Vec<VariantRow>> = HashMap::new();
        for row in &rows {
            out.entry(AvatarId(row.get("avatar_id")))
                .or_default()
                .push(variant_from_row(row)?);
        }
        Ok(out)
    }

    /// Records a stored variant (replacing an earlier record of the same
    /// variant). Returns `false`, recording nothing, when the avatar is gone
    /// or soft-deleted.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn upsert_variant(&self, id: AvatarId, v: &VariantRow) -> Result<bool, DbError> {
        upsert_variant_on(&**self.client().await?, id, v).await
    }

    /// Moves a visible avatar from one of `from` to `to`; `false` when the row
    /// is gone, deleted, or in another status.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn set_status(
        &self,
        id: AvatarId,
        from: &[Status],
        to: Status,
    ) -> Result<bool, DbError> {
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE avatars SET status = $2, updated_at = now() \
                 WHERE id = $1 AND deleted_at IS NULL AND status = ANY($3)",
                &[&id.0, &to.as_str(), &from],
            )
            .await?;
        Ok(n == 1)
    }

    /// Up to `limit` of the user's visible avatars, newest first, after
    /// `cursor`. Fetches one more than asked so callers know whether a next
    /// page exists.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn list_for_user(
        &self,
        user_id: &UserId,
        limit: i64,
        cursor: Option<ListCursor>,
    ) -> Result<Vec<AvatarRow>, DbError> {
        let client = self.client().await?;
        let rows = match cursor {
            None => {
                client
                    .query(
                        &format!(
                            "SELECT {AVATAR_COLUMNS} FROM avatars \
                             WHERE user_id = $1 AND deleted_at IS NULL AND status <> 'uploading' \
                             ORDER BY created_at DESC, id DESC LIMIT $2"
                        ),
                        &[&user_id.as_str(), &(limit + 1)],
                    )
                    .await?
            }
            Some(c) => {
                client
                    .query(
                        &format!(
                            "SELECT {AVATAR_COLUMNS} FROM avatars \
                             WHERE user_id = $1 AND deleted_at IS NULL AND status <> 'uploading' \
                               AND (created_at, id) < ($3, $4) \
                             ORDER BY created_at DESC, id DESC LIMIT $2"
                        ),
                        &[&user_id.as_str(), &(limit + 1), &c.created_at, &c.id],
                    )
                    .await?
            }
        };
        rows.iter().map(avatar_from_row).collect()
    }

    /// Soft-deletes a visible avatar owned by `owner`; returns the row as it
    /// was, or `None` when there was nothing to delete.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn soft_delete(
        &self,
        id: AvatarId,
        owner: &UserId,
    ) -> Result<Option<AvatarRow>, DbError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "UPDATE avatars SET deleted_at = now(), updated_at = now() \
                     WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL \
                       AND status <> 'uploading' \
                     RETURNING {AVATAR_COLUMNS}"
                ),
                &[&id.0, &owner.as_str()],
            )
            .await?;
        row.as_ref().map(avatar_from_row).transpose()
    }

    /// Soft-deletes the user's current avatar (see [`Database::current_avatar`]).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn soft_delete_current(
        &self,
        user_id: &UserId,
    ) -> Result<Option<AvatarRow>, DbError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "UPDATE avatars SET deleted_at = now(), updated_at = now() \
                     WHERE id = (SELECT id FROM avatars \
                                 WHERE user_id = $1 AND deleted_at IS NULL \
                                   AND status NOT IN ('failed', 'uploading') \
                                 ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE) \
                       AND deleted_at IS NULL \
                     RETURNING {AVATAR_COLUMNS}"
                ),
                &[&user_id.as_str()],
            )
            .await?;
        row.as_ref().map(avatar_from_row).transpose()
    }

    /// Removes a soft-deleted row and its variant rows for good (after its
    /// objects are purged). `false` when no such row (already purged).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn hard_delete(&self, id: AvatarId) -> Result<bool, DbError> {
        let n = self
            .client()
            .await?
            .execute(
                "DELETE FROM avatars WHERE id = $1 AND deleted_at IS NOT NULL",
                &[&id.0],
            )
            .await?;
        Ok(n == 1)
    }

    /// Soft-deleted rows deleted more than `older_than` ago, oldest first, at
    /// most `limit`: their purge event was lost or failed for good.
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn stale_soft_deleted(
        &self,
        older_than: Duration,
        limit: i64,
    ) -> Result<Vec<AvatarRow>, DbError> {
        let secs = older_than.as_secs_f64();
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {AVATAR_COLUMNS} FROM avatars \
                     WHERE deleted_at IS NOT NULL \
                       AND deleted_at <= now() - make_interval(secs => $1) \
                     ORDER BY deleted_at LIMIT $2"
                ),
                &[&secs, &limit],
            )
            .await?;
        rows.iter().map(avatar_from_row).collect()
    }

    /// Which of `ids` have a row (deleted or not).
    ///
    /// # Errors
    /// [`DbError`].
    pub async fn existing_ids(&self, ids: &[AvatarId]) -> Result<HashSet<AvatarId>, DbError> {
        let uuids: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
        let rows = self
            .client()
            .await?
            .query("SELECT id FROM avatars WHERE id = ANY($1)", &[&uuids])
            .await?;
        Ok(rows.iter().map(|r| AvatarId(r.get(0))).collect())
    }
}

/// The one INSERT of a variant row, on a pooled client or inside a
/// transaction; see [`Database::upsert_variant`].
async fn upsert_variant_on(
    client: &impl tokio_postgres::GenericClient,
    id: AvatarId,
    v: &VariantRow,
) -> Result<bool, DbError> {
    let n = client
        .execute(
            "INSERT INTO avatar_variants (avatar_id, size, format, s3_key, size_bytes, width, \
               height, etag) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
             WHERE EXISTS (SELECT 1 FROM avatars WHERE id = $1 AND deleted_at IS NULL) \
             ON CONFLICT (avatar_id, size, format) DO UPDATE SET \
               s3_key = EXCLUDED.s3_key, size_bytes = EXCLUDED.size_bytes, \
               width = EXCLUDED.width, height = EXCLUDED.height, etag = EXCLUDED.etag",
            &[
                &id.0,
                &v.variant.size.as_str(),
                &v.variant.format.as_str(),
                &v.s3_key,
                &v.size_bytes,
                &v.width,
                &v.height,
                &v.etag,
            ],
        )
        .await?;
    Ok(n == 1)
}

fn find_idempotent_sql() -> String {
    format!(
        "SELECT {AVATAR_COLUMNS} FROM avatars \
         WHERE user_id = $1 AND idempotency_key = $2 \
           AND created_at >= now() - make_interval(hours => $3)"
    )
}

fn corrupt(what: &str, value: &str) -> DbError {
    DbError::Corrupt(format!("{what} {value:?}"))
}

fn avatar_from_row(row: &Row) -> Result<AvatarRow, DbError> {
    let user: String = row.get("user_id");
    let mime: String = row.get("mime_type");
    let status: String = row.get("status");
    Ok(AvatarRow {
        id: AvatarId(row.get("id")),
        user_id: UserId::parse(&user).map_err(|_| corrupt("user_id", &user))?,
        file_name: row.get("file_name"),
        format: ImageFormat::from_mime(&mime).ok_or_else(|| corrupt("mime_type", &mime))?,
        size_bytes: row.get("size_bytes"),
        width: row.get("width"),
        height: row.get("height"),
        s3_key: row.get("s3_key"),
        status: Status::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        deleted_at: row.get("deleted_at"),
    })
}

fn variant_from_row(row: &Row) -> Result<VariantRow, DbError> {
    let size: String = row.get("size");
    let format: String = row.get("format");
    Ok(VariantRow {
        variant: Variant::new(
            Size::parse(&size).ok_or_else(|| corrupt("size", &size))?,
            ImageFormat::parse(&format).ok_or_else(|| corrupt("format", &format))?,
        ),
        s3_key: row.get("s3_key"),
        size_bytes: row.get("size_bytes"),
        width: row.get("width"),
        height: row.get("height"),
        etag: row.get("etag"),
    })
}
