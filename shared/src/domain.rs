//! Domain types, validated once at the edge ("parse, don't validate"):
//! the pure `avatar-domain` crate's, with its `postgres` feature on, so each
//! is also `ToSql`/`FromSql` in the form its column holds.

pub use avatar_domain::{
    AvatarId, Crop, CropError, ImageFormat, Size, Status, UserId, UserIdError, Variant,
};
