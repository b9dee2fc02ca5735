//! Queue-driven functions: the one generic partial-batch helper and the
//! S3-notification parsing they share.
//!
//! AWS Lambda's SQS event source mapping with `ReportBatchItemFailures`
//! deletes every message of a batch except those listed in the response's
//! `batchItemFailures`; those become visible again after the visibility
//! timeout and, after `maxReceiveCount` deliveries, move to the dead-letter
//! queue. The local event-source mapping implements the same contract.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use serde::Serialize;
use tracing::Instrument;

use avatar_adapters::aws::AwsError;
use avatar_adapters::db::DbError;
use avatar_adapters::queue::Queue;
use avatar_domain::AvatarId;
use avatar_telemetry::metrics::MessageOutcome;

pub use avatar_domain::messages::{
    parse_s3_notification, parse_upload_queue_message, MessageError, S3Notification,
    UploadQueueMessage,
};
use avatar_usecases::processing::ProcessError;
use avatar_usecases::purge::PurgeError;
use avatar_usecases::renditions::RenderError;

/// Messages of one batch processed at once (SQS batches hold at most 10).
pub const BATCH_CONCURRENCY: usize = 10;

/// What an event function's invocation produced: the one result type of
/// every handler [`crate::serve_events`] runs.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Outcome<R = ()> {
    /// An SQS batch was processed: the partial batch response (Lambda
    /// deletes every message not listed in `batchItemFailures`).
    Batch(SqsBatchResponse),
    /// Any other invocation (a scheduled sweep) ran: its report.
    Done(R),
}

impl<R> Outcome<R> {
    /// How many messages of the batch failed and will be delivered again.
    pub fn failed_messages(&self) -> usize {
        match self {
            Self::Batch(response) => response.batch_item_failures.len(),
            Self::Done(_) => 0,
        }
    }
}

/// What a handler did with a message it handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Its work is done (or there was none); the message is deleted.
    Done,
    /// Settled without retrying: its work can never succeed (an original
    /// that does not decode; the avatar is marked `failed`). Deleted too.
    Poison,
}

/// How a failed message backs off: its next delivery waits
/// `first × 2^(n−1)` after its n-th, at most `max`, ±20 % so that messages
/// failed together do not return together (AWS's advice for retries). With
/// the defaults (30 s, 900 s) and `MAX_RECEIVE_COUNT` 5, the deliveries of
/// one message span about 7.5 minutes instead of 2.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failed delivery (`VISIBILITY_TIMEOUT_SECONDS`).
    pub first: Duration,
    /// The longest delay (`RETRY_MAX_SECONDS`).
    pub max: Duration,
}

/// The delay before the next delivery of a message that failed on its
/// `receive_count`-th ([`RetryPolicy`]); `jitter` in `[0, 1)` spreads it
/// over ±20 %.
pub fn retry_delay(policy: RetryPolicy, receive_count: u32, jitter: f64) -> Duration {
    let doublings = receive_count.saturating_sub(1).min(20);
    let delay = policy.first.saturating_mul(1 << doublings).min(policy.max);
    delay.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
}

/// Whether a handler's error may go away by itself (a dependency out of
/// reach, throttling, a 5xx): then retries, however many, must never turn
/// the avatar `failed`. A fault (a missing bucket, an SQL error, a bug) is
/// not transient.
pub fn is_transient(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        if let Some(e) = cause.downcast_ref::<RenderError>() {
            e.is_transient()
        } else if let Some(e) = cause.downcast_ref::<PurgeError>() {
            e.is_transient()
        } else if let Some(e) = cause.downcast_ref::<ProcessError>() {
            e.is_transient()
        } else if let Some(e) = cause.downcast_ref::<DbError>() {
            e.is_transient()
        } else if let Some(e) = cause.downcast_ref::<AwsError>() {
            e.is_transient()
        } else {
            false
        }
    })
}

/// The handler of one queue's messages (the thumbnail function's, purge's).
pub trait MessageHandler: Send + Sync {
    /// The function (`faas.name`).
    fn function(&self) -> &'static str;

    /// The queue's `queue` label ([`avatar_telemetry::metrics::QUEUE_LABELS`]).
    fn queue_label(&self) -> &'static str;

    /// The queue's name (`messaging.destination.name`).
    fn queue_name(&self) -> &str;

    /// Deliveries before SQS moves a message to the dead-letter queue
    /// (`MAX_RECEIVE_COUNT`): the delivery that fails at this count is the
    /// last.
    fn max_receive_count(&self) -> u32;

    /// Where the message's trace continues from when the message does not
    /// say (an S3 notification carries no trace header: the object's
    /// metadata does). `None` keeps the message's own.
    fn trace_carrier(
        &self,
        message: &SqsMessage,
    ) -> impl Future<Output = Option<HashMap<String, String>>> + Send {
        let _ = message;
        async { None }
    }

    /// The queue the messages come from and how failed ones back off
    /// (`ChangeMessageVisibility` on their receipt handles, as a Lambda
    /// function may do before returning its partial batch response).
    /// `None` leaves the queue's own visibility timeout.
    fn backoff(&self) -> Option<(&Queue, RetryPolicy)> {
        None
    }

    /// Handles one message. `Err` means it should be delivered again
    /// (retryable); poison is settled by the handler and answered
    /// [`Handled::Poison`].
    fn handle(&self, message: SqsMessage) -> impl Future<Output = anyhow::Result<Handled>> + Send;
}

/// The trace context a message carries: its `traceparent` / `tracestate`
/// message attributes (set by [`avatar_adapters::queue::Queue::send_json`]), or the
/// `AWSTraceHeader` system attribute SQS sets for X-Ray.
pub fn message_carrier(message: &SqsMessage) -> HashMap<String, String> {
    let mut carrier: HashMap<String, String> = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|name| {
            let value = message.message_attributes.get(name)?.string_value.clone()?;
            Some((name.to_owned(), value))
        })
        .collect();
    if let Some(xray) = message.attributes.get("AWSTraceHeader") {
        carrier.insert("x-amzn-trace-id".into(), xray.clone());
    }
    carrier
}

/// Runs `handler` on every message of `event`, up to [`BATCH_CONCURRENCY`] at
/// once, and returns the partial batch response: only the ids of messages
/// whose handler returned `Err` (each error is logged once, here).
///
/// Each message is handled in its consumer span
/// ([`avatar_telemetry::consumer_span`]: the message id, the queue, and the
/// avatar once the handler knows it, [`record_avatar`]), continuing the
/// trace the message (or [`MessageHandler::trace_carrier`]) carries, and
/// counted in `avatars_queue_messages_total{queue, outcome}`.
pub async fn process_batch<R, H: MessageHandler>(event: SqsEvent, handler: &H) -> Outcome<R> {
    type Handled1 = (Option<String>, Option<String>, u32, anyhow::Result<Handled>);
    let results: Vec<Handled1> =
        futures::stream::iter(event.records.into_iter().map(|msg| async move {
            let id = msg.message_id.clone();
            let receipt = msg.receipt_handle.clone();
            let count = receive_count(&msg);
            let carrier = match handler.trace_carrier(&msg).await {
                Some(carrier) if !carrier.is_empty() => carrier,
                _ => message_carrier(&msg),
            };
            let parent = avatar_telemetry::trace::context_from(&carrier, Some(handler.function()));
            let span = avatar_telemetry::consumer_span(
                handler.queue_name(),
                id.as_deref().unwrap_or_default(),
                parent,
            );
            let last_delivery = count >= handler.max_receive_count();
            let result = handler.handle(msg).instrument(span.clone()).await;
            let outcome = match &result {
                Ok(Handled::Done) => MessageOutcome::Ok,
                Ok(Handled::Poison) => MessageOutcome::Poison,
                Err(_) if last_delivery => MessageOutcome::DeadLettered,
                Err(_) => MessageOutcome::Retried,
            };
            avatar_telemetry::metrics::queue_message(handler.queue_label(), outcome);
            if let Err(error) = &result {
                avatar_telemetry::record_error(&span);
                span.in_scope(|| {
                    tracing::error!(
                        error = format!("{error:#}"),
                        transient = is_transient(error),
                        "message failed; will be retried"
                    );
                });
            }
            (id, receipt, count, result)
        }))
        .buffer_unordered(BATCH_CONCURRENCY)
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for (id, receipt, count, result) in results {
        if result.is_err() {
            if let (Some((queue, policy)), Some(receipt)) = (handler.backoff(), receipt) {
                let delay = retry_delay(policy, count, fastrand::f64());
                if let Err(e) = queue.change_visibility(&receipt, delay).await {
                    // The queue's own visibility timeout applies instead.
                    tracing::warn!(error = %e, "could not back the message off");
                }
            }
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id.unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    Outcome::Batch(response)
}

/// Records the avatar a message concerns on the current message's span
/// (see [`process_batch`]).
pub fn record_avatar(avatar_id: AvatarId) {
    tracing::Span::current().record("avatar_id", tracing::field::display(avatar_id));
}

/// How many times SQS has delivered this message, from the
/// `ApproximateReceiveCount` attribute (1 when absent).
pub fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// CloudEvent `type` of Knative Eventing's `IntegrationSource` for AWS SQS
/// (`spec.aws.sqs`): one event per SQS message, the message body as the
/// event data, sent in binary content mode (`ce-*` headers).
pub const KNATIVE_SQS_EVENT_TYPE: &str = "dev.knative.connector.event.aws-sqs";

/// The SQS event Lambda's event source mapping would deliver for one
/// message that reached a function as a Knative SQS CloudEvent: one record
/// with `messageId` = the CloudEvent `id` and the body unchanged, so queue
/// handlers run the same code on Lambda and on Knative.
///
/// The source does not forward `ApproximateReceiveCount`, so
/// [`receive_count`] is 1 and a handler never knows it runs the last
/// delivery before the dead-letter queue (see k8s-knative/README.md).
pub fn sqs_event_from_cloud_event(id: &str, body: &str) -> SqsEvent {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_owned());
    message.body = Some(body.to_owned());
    message.event_source = Some("aws:sqs".to_owned());
    let mut event = SqsEvent::default();
    event.records = vec![message];
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m
    }

    /// Fails the messages whose body is "fail".
    struct Failing;

    impl MessageHandler for Failing {
        fn function(&self) -> &'static str {
            "thumbnail"
        }

        fn queue_label(&self) -> &'static str {
            "upload"
        }

        fn queue_name(&self) -> &str {
            "uploads"
        }

        fn max_receive_count(&self) -> u32 {
            5
        }

        async fn handle(&self, m: SqsMessage) -> anyhow::Result<Handled> {
            if m.body.as_deref() == Some("fail") {
                anyhow::bail!("boom")
            }
            Ok(Handled::Done)
        }
    }

    #[tokio::test]
    async fn only_failed_messages_are_reported() {
        let mut event = SqsEvent::default();
        event.records = vec![message("a", "ok"), message("b", "fail"), message("c", "ok")];
        let outcome: Outcome = process_batch(event, &Failing).await;
        assert_eq!(outcome.failed_messages(), 1);
        let Outcome::Batch(response) = outcome else {
            panic!("a batch answers a partial batch response")
        };
        let ids: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["b"]);
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_the_cap() {
        let policy = RetryPolicy {
            first: Duration::from_secs(30),
            max: Duration::from_secs(900),
        };
        let middle = |n| retry_delay(policy, n, 0.5).as_secs();
        assert_eq!(
            [1, 2, 3, 4, 5, 6, 50].map(middle),
            [30, 60, 120, 240, 480, 900, 900]
        );
        assert_eq!(retry_delay(policy, 1, 0.0), Duration::from_secs(24));
        assert_eq!(retry_delay(policy, 1, 0.999_999).as_secs(), 35);
        // Five deliveries span 30 + 60 + 120 + 240 s: a 3-minute outage fits.
        let span: u64 = (1..5).map(middle).sum();
        assert_eq!(span, 450);
    }

    #[test]
    fn transient_errors_are_told_from_faults() {
        let pool_timeout = DbError::Unavailable(deadpool_postgres::PoolError::Timeout(
            deadpool_postgres::TimeoutType::Wait,
        ));
        assert!(is_transient(
            &anyhow::Error::new(pool_timeout).context("avatar x")
        ));
        let render = RenderError::Db(DbError::Unavailable(deadpool_postgres::PoolError::Closed));
        assert!(is_transient(&render.into()));
        assert!(!is_transient(&RenderError::OriginalMissing.into()));
        assert!(!is_transient(&anyhow::anyhow!("a bug")));
        let missing_bucket = AwsError::new("storage", "get", false, "NoSuchBucket");
        assert!(!is_transient(&RenderError::Storage(missing_bucket).into()));
        let purge = PurgeError::Db(DbError::Unavailable(deadpool_postgres::PoolError::Closed));
        assert!(is_transient(&anyhow::Error::new(purge).context("purge")));
        let missing_bucket = AwsError::new("storage", "list", false, "NoSuchBucket");
        assert!(!is_transient(&PurgeError::Aws(missing_bucket).into()));
    }

    #[test]
    fn trace_context_from_message_attributes() {
        let mut m = message("a", "");
        assert!(message_carrier(&m).is_empty());
        let mut attribute = aws_lambda_events::event::sqs::SqsMessageAttribute::default();
        attribute.string_value =
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
        m.message_attributes.insert("traceparent".into(), attribute);
        m.attributes.insert(
            "AWSTraceHeader".into(),
            "Root=1-5759e988-bd862e3fe1be46a994272793".into(),
        );
        let carrier = message_carrier(&m);
        assert_eq!(carrier.len(), 2);
        assert!(carrier["traceparent"].starts_with("00-4bf9"));
        assert!(carrier["x-amzn-trace-id"].starts_with("Root=1-"));
    }

    #[test]
    fn a_cloud_event_becomes_one_sqs_record() {
        let event = sqs_event_from_cloud_event("ce-1", r#"{"Records":[]}"#);
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["Records"].as_array().unwrap().len(), 1);
        assert_eq!(value["Records"][0]["messageId"], "ce-1");
        assert_eq!(value["Records"][0]["body"], r#"{"Records":[]}"#);
        assert_eq!(value["Records"][0]["eventSource"], "aws:sqs");
        assert_eq!(receive_count(&event.records[0]), 1);
    }

    #[test]
    fn receive_count_reads_the_attribute() {
        let mut m = message("a", "");
        assert_eq!(receive_count(&m), 1);
        m.attributes
            .insert("ApproximateReceiveCount".into(), "4".into());
        assert_eq!(receive_count(&m), 4);
    }
}
