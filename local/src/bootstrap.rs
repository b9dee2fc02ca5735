//! Creates the AWS resources the functions expect — the one bootstrap used
//! by `make run`, the tests, and `localstack/` init scripts (which call
//! `avatar-local bootstrap`). Idempotent: running it again changes nothing.
//!
//! * the avatar bucket;
//! * the upload and delete queues, each with a dead-letter queue
//!   (`{queue}-dlq`, redrive after `MAX_RECEIVE_COUNT` deliveries) and the
//!   configured visibility timeout;
//! * the bucket's ObjectCreated notifications for `uploads/` (direct
//!   uploads) and `originals/` to the upload queue, with the queue policy that lets S3 send to it;
//! * the bucket's CORS rule that lets a page send a direct upload's
//!   presigned `PUT`, as `template.yaml` does;
//! * the web bucket with `web-static/` and `config.json` published into it
//!   ([`crate::web::publish`]).

use anyhow::Context;
use avatar_adapters::Config;
use avatar_domain::keys::NOTIFIED_PREFIXES;
use aws_sdk_s3::types::{
    CorsConfiguration, CorsRule, Event, FilterRule, FilterRuleName, NotificationConfiguration,
    NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// DLQ message retention: 14 days, the SQS maximum, seconds.
const DLQ_RETENTION_SECONDS: u32 = 14 * 24 * 3600;

/// A queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct QueuePair {
    /// Queue URL.
    pub url: String,
    /// Queue ARN.
    pub arn: String,
    /// Dead-letter queue URL.
    pub dlq_url: String,
}

/// What the bootstrap created or found.
#[derive(Debug, Clone)]
pub struct Resources {
    /// The thumbnail function's event source.
    pub upload: QueuePair,
    /// The purge function's event source.
    pub delete: QueuePair,
}

/// Creates (or finds) every resource for `config`.
///
/// # Errors
/// Any AWS API failure, with the resource it concerned.
pub async fn bootstrap(
    config: &Config,
    s3: &aws_sdk_s3::Client,
    sqs: &aws_sdk_sqs::Client,
) -> anyhow::Result<Resources> {
    create_bucket(s3, &config.bucket).await?;
    let upload = create_queue_pair(config, sqs, &config.upload_queue).await?;
    let delete = create_queue_pair(config, sqs, &config.delete_queue).await?;
    allow_bucket_to_send(sqs, &upload, &config.bucket).await?;
    let notifications = NOTIFIED_PREFIXES
        .iter()
        .map(|prefix| {
            QueueConfiguration::builder()
                .id(format!("{}-to-upload-queue", prefix.trim_end_matches('/')))
                .queue_arn(&upload.arn)
                .events(Event::from("s3:ObjectCreated:*"))
                .filter(
                    NotificationConfigurationFilter::builder()
                        .key(
                            S3KeyFilter::builder()
                                .filter_rules(
                                    FilterRule::builder()
                                        .name(FilterRuleName::Prefix)
                                        .value(*prefix)
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    s3.put_bucket_notification_configuration()
        .bucket(&config.bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .set_queue_configurations(Some(notifications))
                .build(),
        )
        .send()
        .await
        .with_context(|| format!("bucket notification on {}", config.bucket))?;
    allow_browser_uploads(s3, &config.bucket).await?;
    create_bucket(s3, &config.web_bucket).await?;
    let dir = crate::web::static_dir();
    let web = avatar_adapters::storage::Storage::new(s3.clone(), config.web_bucket.clone());
    let pages = crate::web::publish(config, &web, &dir).await?;
    tracing::info!(bucket = %config.bucket, web_bucket = %config.web_bucket, pages, upload_queue = %upload.url, delete_queue = %delete.url, "bootstrap done");
    Ok(Resources { upload, delete })
}

/// CORS on the avatar bucket for the direct upload from a browser: `PUT`
/// from any origin with any request header. A presigned URL is its own
/// credential (its signature fixes the key, type, length, metadata and
/// expiry); CORS only lets the page that holds one send it and read the
/// answer. The headers are `*` because the signed ones include the trace
/// context, whose names vary (`x-amz-meta-traceparent`, the X-Ray
/// header); a prefix wildcard (`x-amz-meta-*`) is AWS's own extension,
/// which moto echoes as it is and browsers then refuse. S3 CORS rules:
/// `PutBucketCors`.
async fn allow_browser_uploads(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<()> {
    let rule = CorsRule::builder()
        .allowed_origins("*")
        .allowed_methods("PUT")
        .allowed_headers("*")
        .expose_headers("ETag")
        .max_age_seconds(600)
        .build()?;
    s3.put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(CorsConfiguration::builder().cors_rules(rule).build()?)
        .send()
        .await
        .with_context(|| format!("bucket CORS on {bucket}"))?;
    Ok(())
}

async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<()> {
    match s3.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
            }) =>
        {
            Ok(())
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("create bucket {bucket}"))),
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .with_context(|| format!("queue attributes of {url}"))?;
    out.attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .with_context(|| format!("no QueueArn for {url}"))
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> anyhow::Result<String> {
    let out = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .with_context(|| format!("create queue {name}"))?;
    out.queue_url()
        .map(str::to_owned)
        .with_context(|| format!("no URL for queue {name}"))
}

async fn create_queue_pair(
    config: &Config,
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> anyhow::Result<QueuePair> {
    let dlq_url = create_queue(sqs, &Config::dead_letter_queue(name)).await?;
    sqs.set_queue_attributes()
        .queue_url(&dlq_url)
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            DLQ_RETENTION_SECONDS.to_string(),
        )
        .send()
        .await
        .context("DLQ retention")?;
    let dlq_arn = queue_arn(sqs, &dlq_url).await?;
    let url = create_queue(sqs, name).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": config.max_receive_count.to_string(),
    });
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            config.visibility_timeout.as_secs().to_string(),
        )
        .send()
        .await
        .with_context(|| format!("redrive policy of {name}"))?;
    let arn = queue_arn(sqs, &url).await?;
    Ok(QueuePair { url, arn, dlq_url })
}

/// The queue policy S3 needs to deliver notifications (AWS checks it;
/// emulators may not).
async fn allow_bucket_to_send(
    sqs: &aws_sdk_sqs::Client,
    queue: &QueuePair,
    bucket: &str,
) -> anyhow::Result<()> {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowBucketNotifications",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue.arn,
            "Condition": {"ArnLike": {"aws:SourceArn": format!("arn:aws:s3:::{bucket}")}}
        }]
    });
    sqs.set_queue_attributes()
        .queue_url(&queue.url)
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .context("queue policy")?;
    Ok(())
}
