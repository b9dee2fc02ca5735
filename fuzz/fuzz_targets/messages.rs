//! The parsers of untrusted text in `avatar-domain`: queue message bodies
//! (S3 event notifications, s3:TestEvent, AvatarProcessEvent,
//! AvatarDeleteEvent — anyone who can send to a queue writes them), the
//! direct upload's JSON body (its crop included) and the multipart crop
//! field, S3 keys (as stored, and form-encoded as S3
//! events carry them), user ids and client file names. Must never panic;
//! what parses must hold its invariants.
#![no_main]

use avatar_domain::keys::{decode_event_key, ObjectKey};
use avatar_domain::messages::{parse_upload_queue_message, AvatarDeleteEvent};
use avatar_domain::upload::{parse_crop, sanitize_file_name, DirectUpload};
use avatar_domain::UserId;
use libfuzzer_sys::fuzz_target;

/// `MAX_UPLOAD_BYTES`' default, 10 MiB.
const MAX_BYTES: u64 = 10 << 20;
/// The smallest thumbnail side by default, pixels.
const MIN_SIDE: u32 = 100;

/// What a checked crop holds: square within a pixel, not below the
/// smallest thumbnail, every value a PostgreSQL `INTEGER`.
fn check_crop(crop: avatar_domain::Crop) {
    assert!(crop.width.abs_diff(crop.height) <= 1, "{crop:?}");
    assert!(crop.width.min(crop.height) >= MIN_SIDE, "{crop:?}");
    for v in [crop.x, crop.y, crop.width, crop.height] {
        assert!(i32::try_from(v).is_ok(), "{crop:?}");
    }
}

fn check_file_name(name: &str) {
    assert!(name.len() <= 255, "{name:?}");
    assert!(!name.contains(['/', '\\']), "{name:?}");
    assert!(!name.chars().any(char::is_control), "{name:?}");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(upload) = DirectUpload::parse(data, MAX_BYTES, MIN_SIDE) {
        assert!((1..=MAX_BYTES).contains(&upload.content_length));
        if let Some(crop) = upload.crop {
            check_crop(crop);
        }
        assert!(avatar_domain::SourceFormat::accepted().contains(&upload.source));
        assert_eq!(upload.format, upload.source.served(false));
        assert!(!upload.file_name.is_empty());
        check_file_name(&upload.file_name);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(crop) = parse_crop(text, MIN_SIDE) {
        check_crop(crop);
    }
    let _ = parse_upload_queue_message(text);
    let _ = AvatarDeleteEvent::parse(text);
    for key in [text.to_owned(), decode_event_key(text)] {
        if let Some(parsed) = ObjectKey::parse(&key) {
            // What parses renders to a key that parses back to it.
            assert_eq!(ObjectKey::parse(&parsed.render()).as_ref(), Some(&parsed));
        }
    }
    if let Ok(user) = UserId::parse(text) {
        assert_eq!(user.as_str(), text);
    }
    check_file_name(&sanitize_file_name(text));
});
