//! The payloads of the service's queue messages (contract, "Events"), and
//! the parsing of what arrives on the upload queue: an S3 event
//! notification (of an original or a direct upload), S3's `s3:TestEvent`,
//! or the sweep's [`AvatarProcessEvent`]. Message bodies are untrusted
//! bytes (anyone who can send to the queue writes them); they are parsed
//! here once, and a body that parses as none of these is poison, never a
//! retry (`fuzz/fuzz_targets/messages.rs` feeds this arbitrary input).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::keys::decode_event_key;
use crate::{AvatarId, UserId};

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

    /// Parses a delete-queue message body.
    ///
    /// # Errors
    /// [`MessageError::NotADeleteEvent`] for anything else.
    pub fn parse(body: &str) -> Result<Self, MessageError> {
        serde_json::from_str(body).map_err(MessageError::NotADeleteEvent)
    }
}

/// AvatarProcessEvent (contract, "Events"): (re-)render an avatar's
/// variants. Sent by the purge sweep for avatars left `processing`
/// (or `uploading` with their file arrived) past
/// `PROCESSING_DEADLINE_SECONDS`, when every delivery of their own event
/// failed (a long outage), and by a backfill (missing sizes, or a re-render
/// of variants made by an older pipeline); consumed by the thumbnail
/// function from the upload queue beside the S3 notifications. Idempotent:
/// `thumbnails` renders only what is missing, `rerender` writes the same
/// bytes again (the encoders are deterministic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvatarProcessEvent {
    /// Unique id of this event (UUID v4).
    pub message_id: Uuid,
    /// The avatar to process.
    pub avatar_id: AvatarId,
    /// What to do: [`AvatarProcessEvent::THUMBNAILS`] (validate a direct
    /// upload whose file arrived, then render every missing thumbnail and
    /// mark the avatar `ready`), and with it, for a `ready` avatar,
    /// [`AvatarProcessEvent::RERENDER`]. Unknown operations are ignored.
    pub operations: Vec<String>,
}

impl AvatarProcessEvent {
    /// Every missing thumbnail.
    pub const THUMBNAILS: &'static str = "thumbnails";
    /// Every variant stored already rendered again from the original and
    /// replaced (the original itself stays), and the ThumbHash recomputed:
    /// what `avatar-local backfill --rerender-before` sends after a
    /// pipeline change that alters pixels (colour conversion, a crop).
    pub const RERENDER: &'static str = "rerender";

    /// Whether the event asks for [`Self::RERENDER`].
    pub fn rerender(&self) -> bool {
        self.operations.iter().any(|op| op == Self::RERENDER)
    }

    /// An event rendering every thumbnail of `avatar_id` again, stored
    /// ones included.
    pub fn rerendering(avatar_id: AvatarId) -> Self {
        Self {
            operations: vec![Self::THUMBNAILS.to_owned(), Self::RERENDER.to_owned()],
            ..Self::thumbnails(avatar_id)
        }
    }

    /// An event rendering every missing thumbnail of `avatar_id`.
    pub fn thumbnails(avatar_id: AvatarId) -> Self {
        Self {
            message_id: Uuid::new_v4(),
            avatar_id,
            operations: vec![Self::THUMBNAILS.to_owned()],
        }
    }
}

/// Why a message body was not understood: the message is poison (it goes
/// to the dead-letter queue; no retry can change its bytes).
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// Not an S3 event (`Records[].s3.object.key`) nor an `s3:TestEvent`.
    #[error("not an S3 event notification: {0}")]
    NotAnS3Event(#[source] serde_json::Error),
    /// Neither an S3 notification nor an AvatarProcessEvent.
    #[error("neither an S3 event nor an AvatarProcessEvent: {0}")]
    NotAnUploadQueueMessage(#[source] serde_json::Error),
    /// Not an AvatarDeleteEvent.
    #[error("body is not an AvatarDeleteEvent: {0}")]
    NotADeleteEvent(#[source] serde_json::Error),
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

/// A message of the upload queue: an S3 notification (of an original or
/// a direct upload), or the sweep's AvatarProcessEvent.
#[derive(Debug, PartialEq, Eq)]
pub enum UploadQueueMessage {
    /// From the bucket.
    S3(S3Notification),
    /// From the sweep.
    Process(AvatarProcessEvent),
}

/// Parses an upload-queue message body.
///
/// # Errors
/// [`MessageError::NotAnUploadQueueMessage`] when the body is neither an S3
/// notification nor an AvatarProcessEvent.
pub fn parse_upload_queue_message(body: &str) -> Result<UploadQueueMessage, MessageError> {
    match parse_s3_notification(body) {
        Ok(notification) => Ok(UploadQueueMessage::S3(notification)),
        Err(_) => serde_json::from_str(body)
            .map(UploadQueueMessage::Process)
            .map_err(MessageError::NotAnUploadQueueMessage),
    }
}

/// Parses an SQS message body holding an S3 event notification: the keys
/// of its `ObjectCreated:*` records, form-decoded ([`decode_event_key`]).
///
/// # Errors
/// [`MessageError::NotAnS3Event`] when the body is neither an S3 event
/// (`Records[].s3.object.key`) nor an `s3:TestEvent`.
pub fn parse_s3_notification(body: &str) -> Result<S3Notification, MessageError> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(MessageError::NotAnS3Event)?;
    if value.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(S3Notification::Test);
    }
    let event: S3EventBody = serde_json::from_value(value).map_err(MessageError::NotAnS3Event)?;
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

    #[test]
    fn upload_queue_messages_are_s3_events_or_avatar_process_events() {
        assert_eq!(
            parse_upload_queue_message(r#"{"Event":"s3:TestEvent"}"#).unwrap(),
            UploadQueueMessage::S3(S3Notification::Test)
        );
        let event = AvatarProcessEvent::thumbnails(AvatarId::new());
        let body = serde_json::to_string(&event).unwrap();
        assert_eq!(
            parse_upload_queue_message(&body).unwrap(),
            UploadQueueMessage::Process(event)
        );
        assert!(parse_upload_queue_message(r#"{"avatar_id":"nope"}"#).is_err());
    }

    #[test]
    fn rerender_is_an_operation_beside_thumbnails() {
        let id = AvatarId::new();
        assert!(!AvatarProcessEvent::thumbnails(id).rerender());
        let event = AvatarProcessEvent::rerendering(id);
        assert!(event.rerender());
        let body = serde_json::to_value(&event).unwrap();
        assert_eq!(
            body["operations"],
            serde_json::json!(["thumbnails", "rerender"])
        );
        // An operation this version does not know is ignored, not poison.
        let later = format!(
            r#"{{"message_id":"{}","avatar_id":"{id}","operations":["thumbnails","sharpen"]}}"#,
            uuid::Uuid::new_v4()
        );
        match parse_upload_queue_message(&later).unwrap() {
            UploadQueueMessage::Process(event) => assert!(!event.rerender()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn delete_events_round_trip() {
        let event = AvatarDeleteEvent::new(
            AvatarId::new(),
            &UserId::parse("u").unwrap(),
            vec!["originals/u/x".into()],
        );
        let body = serde_json::to_string(&event).unwrap();
        assert_eq!(AvatarDeleteEvent::parse(&body).unwrap(), event);
        assert!(matches!(
            AvatarDeleteEvent::parse(r#"{"Records":[]}"#),
            Err(MessageError::NotADeleteEvent(_))
        ));
    }
}
