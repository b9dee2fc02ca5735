//! SQS: the one module that talks to queues, and the queue message types
//! (contract, "Events"). Each queue of the service is a [`Queue`] (the
//! upload queue, the delete queue, their dead-letter queues), sharing one
//! client.

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageAttributeValue, MessageSystemAttributeName,
    QueueAttributeName,
};
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::aws::{client_span, AwsError};
use crate::config::Config;
pub use avatar_domain::messages::{AvatarDeleteEvent, AvatarProcessEvent};

use tracing::Instrument;

/// A queue failure (network, missing queue). Maps to 503.
pub type QueueError = AwsError;

fn failed<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> QueueError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    move |e| AwsError::sdk("queue", operation, e)
}

/// A queue of the service, addressed by name; its URL is looked up once.
#[derive(Clone, Debug)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    name: String,
    url: std::sync::Arc<OnceCell<String>>,
}

impl Queue {
    /// A queue called `name` (from configuration: queue names live only there).
    pub fn new(client: aws_sdk_sqs::Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
            url: Default::default(),
        }
    }

    /// This queue's dead-letter queue ([`Config::dead_letter_queue`]), on
    /// the same client.
    pub fn dead_letter_queue(&self) -> Self {
        Self::new(self.client.clone(), Config::dead_letter_queue(&self.name))
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue URL (`GetQueueUrl`, cached after the first success).
    ///
    /// # Errors
    /// [`QueueError`] when the queue does not exist or SQS is unreachable.
    pub async fn url(&self) -> Result<&str, QueueError> {
        self.url
            .get_or_try_init(|| async {
                let out = self
                    .client
                    .get_queue_url()
                    .queue_name(&self.name)
                    .send()
                    .await
                    .map_err(failed("get queue url"))?;
                out.queue_url().map(str::to_owned).ok_or_else(|| {
                    AwsError::new("queue", "get queue url", false, "no URL in the answer")
                })
            })
            .await
            .map(String::as_str)
    }

    /// Sends one JSON message, with the current trace context as the
    /// message attributes `traceparent` (and `tracestate`), so its consumer
    /// continues the trace.
    ///
    /// # Errors
    /// [`QueueError`].
    pub async fn send_json<T: Serialize>(&self, message: &T) -> Result<(), QueueError> {
        let body =
            serde_json::to_string(message).map_err(|e| AwsError::new("queue", "send", false, e))?;
        let url = self.url().await?.to_owned();
        let span = client_span("SQS", "SendMessage", &self.name);
        let mut send = self.client.send_message().queue_url(url).message_body(body);
        for (name, value) in span.in_scope(avatar_telemetry::trace::carrier) {
            if name == "traceparent" || name == "tracestate" {
                let attribute = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(value)
                    .build()
                    .map_err(|e| AwsError::new("queue", "send", false, e))?;
                send = send.message_attributes(name, attribute);
            }
        }
        send.send().instrument(span).await.map_err(failed("send"))?;
        Ok(())
    }

    /// Receives up to `max` messages (SQS allows 1–10), waiting up to
    /// `wait_seconds` (0–20) for the first, with every system attribute
    /// (`ApproximateReceiveCount`, `AWSTraceHeader`, ...) and message
    /// attribute: what Lambda's event source mapping hands a function.
    /// Untraced, like the rest of the event source mapping.
    ///
    /// # Errors
    /// [`QueueError`].
    pub async fn receive(&self, max: i32, wait_seconds: i32) -> Result<Vec<Message>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(self.url().await?)
            .max_number_of_messages(max)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(failed("receive"))?;
        Ok(out.messages.unwrap_or_default())
    }

    /// Deletes the messages with these receipt handles (at most 10, the
    /// SQS batch limit).
    ///
    /// # Errors
    /// [`QueueError`].
    pub async fn delete_batch<'a>(
        &self,
        receipt_handles: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), QueueError> {
        let entries = receipt_handles
            .into_iter()
            .enumerate()
            .map(|(i, handle)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .build()
                    .map_err(|e| AwsError::new("queue", "delete", false, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if entries.is_empty() {
            return Ok(());
        }
        self.client
            .delete_message_batch()
            .queue_url(self.url().await?)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(failed("delete"))?;
        Ok(())
    }

    /// Makes a received message visible again only after `delay` (SQS
    /// allows 0 s to 12 h, in whole seconds: rounded up, so a back-off is
    /// never shorter than computed): how a failed message backs off.
    ///
    /// # Errors
    /// [`QueueError`].
    pub async fn change_visibility(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        let seconds = delay.as_secs_f64().ceil().min(12.0 * 3600.0) as i32;
        self.client
            .change_message_visibility()
            .queue_url(self.url().await?)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .instrument(client_span("SQS", "ChangeMessageVisibility", &self.name))
            .await
            .map_err(failed("change visibility"))?;
        Ok(())
    }

    /// Moves every message of this queue (a dead-letter queue) to `target`,
    /// bodies and message attributes unchanged, each deleted here only
    /// once sent there: what SQS's `StartMessageMoveTask` does on AWS.
    /// Returns how many moved. Messages that arrive meanwhile move too;
    /// it stops when a receive comes back empty.
    ///
    /// # Errors
    /// [`QueueError`]; what moved before the error stays moved.
    pub async fn move_messages_to(&self, target: &Queue) -> Result<usize, QueueError> {
        let mut moved = 0;
        loop {
            let messages = self.receive(10, 0).await?;
            if messages.is_empty() {
                return Ok(moved);
            }
            let target_url = target.url().await?.to_owned();
            let mut sent = Vec::new();
            for message in &messages {
                let mut send = self
                    .client
                    .send_message()
                    .queue_url(&target_url)
                    .message_body(message.body().unwrap_or_default());
                for (name, value) in message.message_attributes().into_iter().flatten() {
                    send = send.message_attributes(name, value.clone());
                }
                send.send().await.map_err(failed("send"))?;
                if let Some(handle) = message.receipt_handle() {
                    sent.push(handle);
                }
            }
            self.delete_batch(sent).await?;
            moved += messages.len();
        }
    }

    /// `ApproximateNumberOfMessages`: messages waiting to be received (not
    /// counting those in flight).
    ///
    /// # Errors
    /// [`QueueError`].
    pub async fn depth(&self) -> Result<u64, QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(self.url().await?)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(failed("get queue attributes"))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// `GetQueueAttributes` on the queue, for the health check (uncached, so
    /// a vanished queue or endpoint shows).
    ///
    /// # Errors
    /// [`QueueError`].
    pub async fn ping(&self) -> Result<(), QueueError> {
        self.depth()
            .instrument(client_span("SQS", "GetQueueAttributes", &self.name))
            .await
            .map(drop)
    }
}
