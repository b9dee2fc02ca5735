//! The S3 object key layout, defined in exactly one place.
//!
//! ```text
//! uploads/{user_id}/{avatar_id}                   a direct (presigned) upload, not yet validated
//! originals/{user_id}/{avatar_id}                 the ingested original (metadata stripped)
//! variants/{user_id}/{avatar_id}/{size}.{ext}     thumbnails and format conversions
//! ```
//!
//! Only `uploads/` and `originals/` are wired to the upload queue's
//! ObjectCreated notification, so storing a variant never triggers the
//! thumbnail function.
//! User ids are `[A-Za-z0-9._@-]` and avatar ids are UUIDs, so no component
//! ever needs escaping. Keys inside S3 event notifications are still
//! URL-encoded by S3 (`+` for a space); [`decode_event_key`] undoes that.

use std::borrow::Cow;

use crate::{AvatarId, ImageFormat, Size, UserId, Variant};

/// Prefix of every original; the bucket notification filters on it.
pub const ORIGINALS_PREFIX: &str = "originals/";
/// Prefix of every rendered variant.
pub const VARIANTS_PREFIX: &str = "variants/";
/// Prefix of direct uploads awaiting validation (contract, `POST
/// /api/v1/avatars/uploads`); the bucket notification filters on it too.
pub const INCOMING_PREFIX: &str = "uploads/";

/// The prefixes whose ObjectCreated events go to the upload queue.
pub const NOTIFIED_PREFIXES: [&str; 2] = [INCOMING_PREFIX, ORIGINALS_PREFIX];

/// A key of this service's layout, parsed or to be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectKey {
    /// A direct upload's bytes as the client sent them, before validation.
    Incoming {
        /// Owner.
        user_id: UserId,
        /// Avatar.
        avatar_id: AvatarId,
    },
    /// The stored original of an avatar.
    Original {
        /// Owner.
        user_id: UserId,
        /// Avatar.
        avatar_id: AvatarId,
    },
    /// A rendered variant of an avatar.
    Variant {
        /// Owner.
        user_id: UserId,
        /// Avatar.
        avatar_id: AvatarId,
        /// Size and format.
        variant: Variant,
    },
}

impl ObjectKey {
    /// The key of `variant` of an avatar; the `original` size maps to the
    /// original's key only in its stored format, which callers know from the
    /// row — a conversion of the original is stored as a variant.
    pub fn for_variant(
        user_id: &UserId,
        avatar_id: AvatarId,
        variant: Variant,
        stored: ImageFormat,
    ) -> Self {
        if variant.size == Size::Original && variant.format == stored {
            Self::Original {
                user_id: user_id.clone(),
                avatar_id,
            }
        } else {
            Self::Variant {
                user_id: user_id.clone(),
                avatar_id,
                variant,
            }
        }
    }

    /// The avatar this key belongs to.
    pub fn avatar_id(&self) -> AvatarId {
        match self {
            Self::Incoming { avatar_id, .. }
            | Self::Original { avatar_id, .. }
            | Self::Variant { avatar_id, .. } => *avatar_id,
        }
    }

    /// Renders the key string.
    pub fn render(&self) -> String {
        match self {
            Self::Incoming { user_id, avatar_id } => {
                format!("{INCOMING_PREFIX}{user_id}/{avatar_id}")
            }
            Self::Original { user_id, avatar_id } => {
                format!("{ORIGINALS_PREFIX}{user_id}/{avatar_id}")
            }
            Self::Variant {
                user_id,
                avatar_id,
                variant,
            } => format!(
                "{VARIANTS_PREFIX}{user_id}/{avatar_id}/{}.{}",
                variant.size,
                variant.format.extension()
            ),
        }
    }

    /// Parses a key of this layout; `None` for anything else (a foreign
    /// object in the bucket is not ours to touch).
    pub fn parse(key: &str) -> Option<Self> {
        if let Some(rest) = key.strip_prefix(INCOMING_PREFIX) {
            let (user, id) = rest.split_once('/')?;
            return Some(Self::Incoming {
                user_id: UserId::parse(user).ok()?,
                avatar_id: AvatarId::parse(id)?,
            });
        }
        if let Some(rest) = key.strip_prefix(ORIGINALS_PREFIX) {
            let (user, id) = rest.split_once('/')?;
            return Some(Self::Original {
                user_id: UserId::parse(user).ok()?,
                avatar_id: AvatarId::parse(id)?,
            });
        }
        let rest = key.strip_prefix(VARIANTS_PREFIX)?;
        let mut parts = rest.splitn(3, '/');
        let user_id = UserId::parse(parts.next()?).ok()?;
        let avatar_id = AvatarId::parse(parts.next()?)?;
        let (size, ext) = parts.next()?.split_once('.')?;
        let format = ImageFormat::ALL
            .into_iter()
            .find(|f| f.extension() == ext)?;
        Some(Self::Variant {
            user_id,
            avatar_id,
            variant: Variant::new(Size::parse(size)?, format),
        })
    }
}

/// Every prefix under which objects of one avatar live; purge deletes all
/// objects under these.
pub fn avatar_prefixes(user_id: &UserId, avatar_id: AvatarId) -> [String; 3] {
    [
        ObjectKey::Incoming {
            user_id: user_id.clone(),
            avatar_id,
        }
        .render(),
        ObjectKey::Original {
            user_id: user_id.clone(),
            avatar_id,
        }
        .render(),
        format!("{VARIANTS_PREFIX}{user_id}/{avatar_id}/"),
    ]
}

/// Decodes an object key as found in an S3 event notification: S3 encodes
/// keys like an HTML form value (`+` is a space, `%2F` a slash). Invalid
/// escapes are kept literally.
pub fn decode_event_key(raw: &str) -> String {
    let spaced: Cow<'_, str> = if raw.contains('+') {
        Cow::Owned(raw.replace('+', " "))
    } else {
        Cow::Borrowed(raw)
    };
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserId {
        UserId::parse("user-1@example.com").unwrap()
    }

    #[test]
    fn keys_round_trip() {
        let id = AvatarId::new();
        let original = ObjectKey::Original {
            user_id: user(),
            avatar_id: id,
        };
        assert_eq!(
            original.render(),
            format!("originals/user-1@example.com/{id}")
        );
        assert_eq!(ObjectKey::parse(&original.render()), Some(original));
        let incoming = ObjectKey::Incoming {
            user_id: user(),
            avatar_id: id,
        };
        assert_eq!(
            incoming.render(),
            format!("uploads/user-1@example.com/{id}")
        );
        assert_eq!(ObjectKey::parse(&incoming.render()), Some(incoming));
        for size in Size::THUMBNAILS {
            for format in ImageFormat::ALL {
                let key = ObjectKey::Variant {
                    user_id: user(),
                    avatar_id: id,
                    variant: Variant::new(size, format),
                };
                assert_eq!(ObjectKey::parse(&key.render()), Some(key));
            }
        }
    }

    #[test]
    fn original_in_stored_format_is_the_original_key() {
        let id = AvatarId::new();
        let k = ObjectKey::for_variant(
            &user(),
            id,
            Variant::new(Size::Original, ImageFormat::Png),
            ImageFormat::Png,
        );
        assert!(matches!(k, ObjectKey::Original { .. }));
        let k = ObjectKey::for_variant(
            &user(),
            id,
            Variant::new(Size::Original, ImageFormat::Webp),
            ImageFormat::Png,
        );
        assert_eq!(
            k.render(),
            format!("variants/user-1@example.com/{id}/original.webp")
        );
    }

    #[test]
    fn foreign_keys_do_not_parse() {
        for key in [
            "",
            "originals/",
            "originals/user/not-a-uuid",
            "variants/user/00000000-0000-0000-0000-000000000000/8x8.jpg",
            "variants/user/00000000-0000-0000-0000-000000000000/100x200.jpg",
            "variants/user/00000000-0000-0000-0000-000000000000/100x100.gif",
            "other/thing",
            "originals/bad user/00000000-0000-0000-0000-000000000000",
        ] {
            assert_eq!(ObjectKey::parse(key), None, "{key}");
        }
    }

    #[test]
    fn event_keys_are_form_decoded() {
        assert_eq!(decode_event_key("originals%2Fa+b.png"), "originals/a b.png");
        assert_eq!(decode_event_key("a%2Bb"), "a+b");
        assert_eq!(decode_event_key("plain/key"), "plain/key");
        assert_eq!(decode_event_key("bad%zzescape"), "bad%zzescape");
    }
}
