//! A local SQS event source mapping: what AWS Lambda's does for a function
//! with `ReportBatchItemFailures`, in-process.
//!
//! Long-polls the queue for up to 10 messages, hands them to the handler as
//! one `SqsEvent` (with `ApproximateReceiveCount` and the other system
//! attributes), deletes the messages the handler did not list in
//! `batchItemFailures`, and leaves the failed ones invisible until the
//! queue's visibility timeout: SQS then redelivers them, and after the
//! redrive policy's `maxReceiveCount` moves them to the dead-letter queue.
//! With a batching window (Lambda's `MaximumBatchingWindowInSeconds`) it
//! keeps gathering messages after the first one until the batch is full or
//! the window has passed. Like Lambda's, it does not wait for one batch to
//! finish before taking the next: up to [`MAX_CONCURRENCY`] invocations run
//! at once (Lambda's `ScalingConfig.MaximumConcurrency` starts at 2), so
//! one slow message does not hold back the messages behind its batch.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use avatar_adapters::queue::{Queue, QueueError};
use avatar_runtime::events::Outcome;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::Message;
use tokio::sync::watch;

/// Messages per batch (the SQS maximum per receive).
pub const BATCH_SIZE: i32 = 10;
/// Long-poll wait per receive, seconds: short, so shutdown is prompt.
pub const WAIT_SECONDS: i32 = 1;
/// Longest batching window Lambda accepts, seconds.
pub const MAX_BATCHING_WINDOW_SECONDS: u64 = 300;
/// Invocations of one mapping at once (Lambda's least
/// `MaximumConcurrency`; the work inside is bounded by the decode budget's
/// slots anyway).
pub const MAX_CONCURRENCY: usize = 2;

/// One queue → handler mapping.
#[derive(Debug, Clone)]
pub struct EventSourceMapping {
    /// For logs: the function name.
    pub function: &'static str,
    /// The queue polled.
    pub queue: Queue,
    /// Queue ARN (the records' `eventSourceARN`).
    pub queue_arn: String,
    /// How long to keep gathering a batch after its first message
    /// (`MaximumBatchingWindowInSeconds`, 0–300 s); zero invokes at once.
    pub batching_window: Duration,
}

impl EventSourceMapping {
    /// Polls until `shutdown` turns true, invoking `handler` per batch, up
    /// to [`MAX_CONCURRENCY`] at once, and waits for those in flight. A
    /// handler error or panic fails the whole batch, as a failed Lambda
    /// invocation does.
    pub async fn run<R, F, Fut>(self, handler: F, mut shutdown: watch::Receiver<bool>)
    where
        F: Fn(SqsEvent) -> Fut,
        Fut: Future<Output = anyhow::Result<Outcome<R>>> + Send + 'static,
        R: Send + 'static,
    {
        tracing::info!(function = self.function, queue = %self.queue.name(), "event source mapping started");
        let this = Arc::new(self);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENCY));
        loop {
            if *shutdown.borrow() {
                break;
            }
            // A free invocation first, then messages for it.
            let slot = tokio::select! {
                s = slots.clone().acquire_owned() => s.expect("never closed"),
                _ = shutdown.changed() => break,
            };
            let received = tokio::select! {
                r = this.receive() => r,
                _ = shutdown.changed() => break,
            };
            let messages = match received {
                Ok(m) if m.is_empty() => continue,
                Ok(m) => tokio::select! {
                    m = this.fill_batch(m) => m,
                    _ = shutdown.changed() => break,
                },
                Err(e) => {
                    tracing::warn!(function = this.function, error = %e, "receive failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let invocation = handler(this.to_event(&messages));
            let mapping = this.clone();
            tokio::spawn(async move {
                mapping.invoke(invocation, messages).await;
                drop(slot);
            });
        }
        // Wait for the invocations in flight.
        let _ = slots.acquire_many(MAX_CONCURRENCY as u32).await;
        tracing::info!(function = this.function, "event source mapping stopped");
    }

    /// One invocation: runs it, then deletes the messages it did not list
    /// as failed (all of them stay when it failed or crashed).
    async fn invoke<R, Fut>(&self, invocation: Fut, messages: Vec<Message>)
    where
        Fut: Future<Output = anyhow::Result<Outcome<R>>> + Send + 'static,
        R: Send + 'static,
    {
        let all = || {
            messages
                .iter()
                .filter_map(|m| m.message_id.clone())
                .collect()
        };
        let failed: HashSet<String> = match tokio::spawn(invocation).await {
            Ok(Ok(Outcome::Batch(response))) => response
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect(),
            Ok(Ok(Outcome::Done(_))) => HashSet::new(),
            Ok(Err(e)) => {
                tracing::error!(
                    function = self.function,
                    error = format!("{e:#}"),
                    "invocation failed"
                );
                all()
            }
            Err(e) => {
                tracing::error!(function = self.function, error = %e, "handler crashed");
                all()
            }
        };
        if let Err(e) = self.delete_succeeded(&messages, &failed).await {
            tracing::warn!(function = self.function, error = %e, "delete failed; messages will be redelivered");
        }
    }

    async fn receive(&self) -> Result<Vec<Message>, QueueError> {
        self.queue.receive(BATCH_SIZE, WAIT_SECONDS).await
    }

    /// Receives more messages into `batch` until it holds [`BATCH_SIZE`] or
    /// the batching window (from now) has passed. Receive errors end the
    /// gathering; what was received is still handled.
    async fn fill_batch(&self, mut batch: Vec<Message>) -> Vec<Message> {
        let deadline = tokio::time::Instant::now() + self.batching_window;
        while batch.len() < BATCH_SIZE as usize {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let more = self.queue.receive(BATCH_SIZE - batch.len() as i32, 0).await;
            match more {
                Ok(messages) if !messages.is_empty() => batch.extend(messages),
                Ok(_) => tokio::time::sleep(left.min(Duration::from_millis(200))).await,
                Err(e) => {
                    tracing::warn!(function = self.function, error = %e, "receive failed while batching");
                    break;
                }
            }
        }
        batch
    }

    fn to_event(&self, messages: &[Message]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = messages
            .iter()
            .map(|m| {
                let mut record = SqsMessage::default();
                record.message_id = m.message_id.clone();
                record.receipt_handle = m.receipt_handle.clone();
                record.body = m.body.clone();
                record.md5_of_body = m.md5_of_body.clone();
                record.attributes = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                record.message_attributes = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| {
                                let mut attribute = SqsMessageAttribute::default();
                                attribute.string_value = v.string_value.clone();
                                attribute.data_type = Some(v.data_type.clone());
                                (k.clone(), attribute)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                record.event_source = Some("aws:sqs".into());
                record.event_source_arn = Some(self.queue_arn.clone());
                record
            })
            .collect();
        event
    }

    async fn delete_succeeded(
        &self,
        messages: &[Message],
        failed: &HashSet<String>,
    ) -> Result<(), QueueError> {
        let handles = messages
            .iter()
            .filter(|m| m.message_id.as_ref().is_none_or(|id| !failed.contains(id)))
            .filter_map(|m| m.receipt_handle());
        self.queue.delete_batch(handles).await
    }
}
