//! Local emulator of the AWS wiring, for laptops and CI: the API gateway
//! built from the functions' routes, SQS event source mappings with Lambda's
//! partial-batch semantics, the scheduled purge sweep, and the bootstrap
//! that creates buckets, queues, dead-letter queues and the bucket
//! notification, and the static web pages served from their bucket.
#![warn(missing_docs)]

pub mod bootstrap;
pub mod event_source_mapping;
pub mod stack;
pub mod web;

use avatar_adapters::queue::QueueError;
use avatar_usecases::AppState;

/// What [`redrive`] moved.
#[derive(Debug, Default, serde::Serialize, PartialEq, Eq)]
pub struct RedriveReport {
    /// Messages moved from the upload DLQ back to the upload queue.
    pub upload: usize,
    /// Messages moved from the delete DLQ back to the delete queue.
    pub delete: usize,
}

/// `avatar-local redrive`: moves every message of both dead-letter queues
/// back to its source queue, where the thumbnail and purge functions take
/// them again (idempotently). What SQS's `StartMessageMoveTask` does on
/// AWS (README, "Retries that outlast an outage").
///
/// # Errors
/// [`QueueError`]; what moved before the error stays moved.
pub async fn redrive(state: &AppState) -> Result<RedriveReport, QueueError> {
    let upload = state.upload_queue.dead_letter_queue();
    let delete = state.delete_queue.dead_letter_queue();
    Ok(RedriveReport {
        upload: upload.move_messages_to(&state.upload_queue).await?,
        delete: delete.move_messages_to(&state.delete_queue).await?,
    })
}
