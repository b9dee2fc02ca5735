//! Per-cold-start state: configuration and the clients every handler uses,
//! built once outside the handler (README, "Architecture").

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::backfill::Backfill;
use crate::deletion::Deletion;
use crate::processing::Processing;
use crate::purge::{Purge, SweepSettings};
use crate::renditions::Renderer;
use crate::uploads::{UploadLimits, Uploads};
use avatar_adapters::budget::DecodeBudget;
use avatar_adapters::cache::VariantCache;
use avatar_adapters::config::Config;
use avatar_adapters::db::Database;
use avatar_adapters::queue::Queue;
use avatar_adapters::storage::Storage;

/// Configuration plus the database pool, the two buckets and the two
/// queues. One S3 client and one SQS client are shared by the buckets and
/// by the queues.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Configuration read at cold start.
    pub config: Config,
    /// PostgreSQL pool.
    pub db: Database,
    /// The avatar bucket (`AVATAR_BUCKET`): originals and variants.
    pub storage: Storage,
    /// The web bucket (`WEB_BUCKET`): the static pages and `config.json`.
    pub web: Storage,
    /// The queue of the avatar bucket's ObjectCreated notifications
    /// (`UPLOAD_QUEUE`; the thumbnail function's event source).
    pub upload_queue: Queue,
    /// The queue AvatarDeleteEvent goes to (`DELETE_QUEUE`; purge's source).
    pub delete_queue: Queue,
    /// Who is acting (`AUTH_MODE`).
    pub auth: Arc<Authenticator>,
    /// The memory every decode reserves first.
    pub budget: DecodeBudget,
    /// Hot variants the get function serves from memory.
    pub hot: Arc<VariantCache>,
}

impl AppState {
    /// Builds every client for `config` (no network I/O until first use).
    ///
    /// # Errors
    /// When `DATABASE_URL` does not parse, or the HTTPS client of `jwt`
    /// mode cannot be built.
    pub async fn new(config: Config) -> anyhow::Result<Arc<Self>> {
        let (s3, sqs) = avatar_adapters::aws::clients(&config).await;
        let storage = Storage::new(s3, config.bucket.clone());
        let upload_queue = Queue::new(sqs.clone(), config.upload_queue.clone());
        Ok(Arc::new(Self {
            db: Database::connect(&config.database_url, config.database_pool_size)?,
            auth: Arc::new(
                Authenticator::new(config.auth_mode, &config.jwt).map_err(anyhow::Error::msg)?,
            ),
            budget: DecodeBudget::for_process(&config),
            hot: Arc::new(VariantCache::new(
                config.hot_cache_bytes,
                config.hot_cache_ttl,
            )),
            web: storage.bucket_named(config.web_bucket.clone()),
            storage,
            upload_queue,
            delete_queue: Queue::new(sqs, config.delete_queue.clone()),
            config,
        }))
    }

    /// What rendering variants takes, borrowed from this state.
    pub fn renderer(&self) -> Renderer<'_> {
        Renderer {
            storage: &self.storage,
            db: &self.db,
            budget: &self.budget,
            limits: self.config.image_limits(),
            crop: self.config.crop,
        }
    }

    /// What starting an upload takes, borrowed from this state.
    pub fn uploads(&self) -> Uploads<'_> {
        Uploads {
            db: &self.db,
            storage: &self.storage,
            budget: &self.budget,
            image_limits: self.config.image_limits(),
            limits: UploadLimits {
                per_minute: self.config.uploads_per_user_per_minute,
                max_avatars: self.config.max_avatars_per_user,
            },
        }
    }

    /// What processing an avatar after its file arrived takes, borrowed
    /// from this state.
    pub fn processing(&self) -> Processing<'_> {
        Processing {
            renderer: self.renderer(),
            deletion: self.deletion(),
            thumbnail_sizes: &self.config.thumbnail_sizes,
            max_upload_bytes: self.config.max_upload_bytes,
            keep_avatars_per_user: self.config.keep_avatars_per_user,
        }
    }

    /// What purging and sweeping take, borrowed from this state.
    pub fn purge(&self) -> Purge<'_> {
        Purge {
            db: &self.db,
            storage: &self.storage,
            upload_queue: &self.upload_queue,
            settings: SweepSettings {
                orphan_grace: self.config.orphan_grace,
                upload_url_ttl: self.config.upload_url_ttl,
                processing_deadline: self.config.processing_deadline,
                max_receive_count: self.config.max_receive_count,
            },
        }
    }

    /// What a backfill takes, borrowed from this state.
    pub fn backfill(&self) -> Backfill<'_> {
        Backfill {
            db: &self.db,
            upload_queue: &self.upload_queue,
            sizes: &self.config.thumbnail_sizes,
        }
    }

    /// What a soft delete's aftermath takes, borrowed from this state.
    pub fn deletion(&self) -> Deletion<'_> {
        Deletion {
            db: &self.db,
            hot: &self.hot,
            delete_queue: &self.delete_queue,
        }
    }

    /// Reads [`Config::from_env`] and builds the state: what every binary's
    /// `main` calls.
    ///
    /// # Errors
    /// Configuration or database URL errors.
    pub async fn from_env() -> anyhow::Result<Arc<Self>> {
        Self::new(Config::from_env()?).await
    }
}
