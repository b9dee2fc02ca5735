//! Queue-driven functions: the one generic partial-batch helper and the
//! S3-notification parsing they share.
//!
//! AWS Lambda's SQS event source mapping with `ReportBatchItemFailures`
//! deletes every message of a batch except those listed in the response's
//! `batchItemFailures`; those become visible again after the visibility
//! timeout and, after `maxReceiveCount` deliveries, move to the dead-letter
//! queue. The local event-source mapping implements the same contract.

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::domain::AvatarId;
use crate::keys::decode_event_key;

/// Messages of one batch processed at once (SQS batches hold at most 10).
pub const BATCH_CONCURRENCY: usize = 10;

/// What an event function's invocation produced: the one result type of
/// every handler [`crate::runtime::serve_events`] runs.
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

/// Runs `handler` on every message of `event`, up to [`BATCH_CONCURRENCY`] at
/// once, and returns the partial batch response: only the ids of messages
/// whose handler returned `Err` (each error is logged once, here).
///
/// Each message is handled inside a span `sqs_message` carrying its
/// `message_id` and, once the handler knows it ([`record_avatar`]), the
/// `avatar_id`, so every log line of the message says which it was.
///
/// Handlers decide what is retryable: a message that can never succeed
/// (poison) should be settled by the handler (e.g. the avatar marked
/// `failed`) and return `Ok`, so it is not retried.
pub async fn process_batch<R, F, Fut>(event: SqsEvent, handler: F) -> Outcome<R>
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let results: Vec<(Option<String>, anyhow::Result<()>)> =
        futures::stream::iter(event.records.into_iter().map(|msg| {
            let id = msg.message_id.clone();
            let span = tracing::info_span!(
                "sqs_message",
                message_id = id.as_deref().unwrap_or_default(),
                avatar_id = tracing::field::Empty,
            );
            let fut = handler(msg).instrument(span.clone());
            async move {
                let result = fut.await;
                if let Err(error) = &result {
                    span.in_scope(|| {
                        tracing::error!(
                            error = format!("{error:#}"),
                            "message failed; will be retried"
                        );
                    });
                }
                (id, result)
            }
        }))
        .buffer_unordered(BATCH_CONCURRENCY)
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for (id, result) in results {
        if result.is_err() {
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

/// What an S3 notification delivered through SQS carries.
#[derive(Debug, PartialEq, Eq)]
pub enum S3Notification {
    /// The `s3:TestEvent` S3 sends when a notification configuration is put:
    /// not an `S3Event`; acknowledge and skip it.
    Test,
    /// Created objects' keys, URL-decoded.
    Created(Vec<String>),
}

/// The part of an S3 event notification this service reads. Deliberately
/// not `aws_lambda_events::s3::S3Event`: that type requires `eventTime`,
/// `userIdentity` and more on every record, which emulators (and a
/// hand-written replay) do not always send; only the event name and the
/// object key matter here.
#[derive(Debug, Deserialize)]
struct S3EventBody {
    #[serde(rename = "Records")]
    records: Vec<S3EventRecord>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3EventRecord {
    #[serde(default)]
    event_name: Option<String>,
    s3: S3Entity,
}

#[derive(Debug, Deserialize)]
struct S3Entity {
    object: S3Object,
}

#[derive(Debug, Deserialize)]
struct S3Object {
    key: String,
}

/// Parses an SQS message body holding an S3 event notification.
///
/// # Errors
/// When the body is neither an S3 event (`Records[].s3.object.key`) nor an
/// `s3:TestEvent`.
pub fn parse_s3_notification(body: &str) -> anyhow::Result<S3Notification> {
    let value: serde_json::Value = serde_json::from_str(body)?;
    if value.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(S3Notification::Test);
    }
    let event: S3EventBody = serde_json::from_value(value)?;
    Ok(S3Notification::Created(
        event
            .records
            .into_iter()
            .filter(|r| {
                r.event_name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("ObjectCreated:"))
            })
            .map(|r| decode_event_key(&r.s3.object.key))
            .collect(),
    ))
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

    #[tokio::test]
    async fn only_failed_messages_are_reported() {
        let mut event = SqsEvent::default();
        event.records = vec![message("a", "ok"), message("b", "fail"), message("c", "ok")];
        let outcome: Outcome = process_batch(event, |m| async move {
            if m.body.as_deref() == Some("fail") {
                anyhow::bail!("boom")
            }
            Ok(())
        })
        .await;
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

    #[test]
    fn test_event_and_created_records() {
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-21T10:00:00Z","Bucket":"b","RequestId":"r","HostId":"h"}"#;
        assert_eq!(parse_s3_notification(test).unwrap(), S3Notification::Test);
        let created = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
            "eventTime":"2026-11-21T10:00:00.000Z","eventName":"ObjectCreated:Put",
            "userIdentity":{"principalId":"x"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},
            "responseElements":{},"s3":{"s3SchemaVersion":"1.0","configurationId":"c",
            "bucket":{"name":"b","ownerIdentity":{"principalId":"x"},"arn":"arn:aws:s3:::b"},
            "object":{"key":"originals%2Fu%2Fa+b","size":1,"eTag":"e","sequencer":"1"}}},
            {"eventTime":"2026-11-21T10:00:01.000Z","eventName":"ObjectRemoved:Delete",
             "s3":{"bucket":{},"object":{"key":"gone"}}}]}"#;
        assert_eq!(
            parse_s3_notification(created).unwrap(),
            S3Notification::Created(vec!["originals/u/a b".into()])
        );
        assert!(parse_s3_notification("not json").is_err());
        assert!(parse_s3_notification(r#"{"something":"else"}"#).is_err());
    }
}
