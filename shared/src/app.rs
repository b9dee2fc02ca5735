//! Per-cold-start state: configuration and the clients every handler uses,
//! built once outside the handler (ARCHITECTURE.md, "Boundaries").

use std::sync::Arc;

use crate::config::Config;
use crate::db::Database;
use crate::queue::Queue;
use crate::storage::Storage;

/// Configuration plus the database pool, the bucket and the delete queue.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Configuration read at cold start.
    pub config: Config,
    /// PostgreSQL pool.
    pub db: Database,
    /// The avatar bucket.
    pub storage: Storage,
    /// The queue AvatarDeleteEvent goes to.
    pub delete_queue: Queue,
}

/// S3 and SQS clients from the standard AWS configuration chain
/// (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL[_S3|_SQS]` for emulators),
/// S3 path-style addressing when configured.
pub async fn aws_clients(config: &Config) -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(config.s3_force_path_style)
        .build();
    (
        aws_sdk_s3::Client::from_conf(s3),
        aws_sdk_sqs::Client::new(&sdk),
    )
}

impl AppState {
    /// Builds every client for `config` (no network I/O until first use).
    ///
    /// # Errors
    /// When `DATABASE_URL` does not parse.
    pub async fn new(config: Config) -> anyhow::Result<Arc<Self>> {
        let (s3, sqs) = aws_clients(&config).await;
        Ok(Arc::new(Self {
            db: Database::connect(&config.database_url, config.database_pool_size)?,
            storage: Storage::new(s3, config.bucket.clone()),
            delete_queue: Queue::new(sqs, config.delete_queue.clone()),
            config,
        }))
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
