//! SQS: the one module that sends to queues, and the queue message types
//! (contract, "Events").

use aws_sdk_sqs::error::DisplayErrorContext;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::domain::{AvatarId, UserId};

/// A queue failure (network, missing queue). Maps to 503.
#[derive(Debug, thiserror::Error)]
#[error("queue {operation} failed: {message}")]
pub struct QueueError {
    operation: &'static str,
    message: String,
}

/// AvatarDeleteEvent: sent by the delete function after a soft delete,
/// consumed by purge. `message_id` is unique per event; processing is
/// idempotent, so a redelivery is harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvatarDeleteEvent {
    /// Unique id of this event (UUID v4).
    pub message_id: Uuid,
    /// The soft-deleted avatar.
    pub avatar_id: AvatarId,
    /// Its owner (part of every key of the avatar).
    pub user_id: String,
    /// Keys known at delete time; purge also removes every object under the
    /// avatar's prefixes, so variants rendered later go too.
    pub s3_keys: Vec<String>,
}

impl AvatarDeleteEvent {
    /// A new event with a fresh `message_id`.
    pub fn new(avatar_id: AvatarId, user_id: &UserId, s3_keys: Vec<String>) -> Self {
        Self {
            message_id: Uuid::new_v4(),
            avatar_id,
            user_id: user_id.to_string(),
            s3_keys,
        }
    }
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

    /// The underlying client (the local event source mapping reuses it).
    pub fn client_for_tools(&self) -> &aws_sdk_sqs::Client {
        &self.client
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
                    .map_err(|e| QueueError {
                        operation: "get queue url",
                        message: DisplayErrorContext(&e).to_string(),
                    })?;
                out.queue_url()
                    .map(str::to_owned)
                    .ok_or_else(|| QueueError {
                        operation: "get queue url",
                        message: "no URL in the answer".into(),
                    })
            })
            .await
            .map(String::as_str)
    }

    /// Sends one JSON message.
    ///
    /// # Errors
    /// [`QueueError`].
    pub async fn send_json<T: Serialize>(&self, message: &T) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError {
            operation: "send",
            message: e.to_string(),
        })?;
        let url = self.url().await?;
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| QueueError {
                operation: "send",
                message: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }

    /// `GetQueueAttributes` on the queue, for the health check (uncached, so
    /// a vanished queue or endpoint shows).
    ///
    /// # Errors
    /// [`QueueError`].
    pub async fn ping(&self) -> Result<(), QueueError> {
        let url = self.url().await?.to_owned();
        self.client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| QueueError {
                operation: "get queue attributes",
                message: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }
}
