//! The avatar domain, pure (no I/O, no AWS, no database driver): who owns
//! an avatar and what state it is in ([`UserId`], [`AvatarId`],
//! [`Status`]), where its objects live ([`keys`]), what the queues carry
//! ([`messages`]) and what a direct upload asks for ([`upload`]). Each type
//! is parsed from untrusted input once, here; the fuzz target
//! `fuzz/fuzz_targets/messages.rs` feeds these parsers arbitrary bytes.
//!
//! [`Variant`], [`Size`] and [`ImageFormat`] belong to the image pipeline
//! (`avatar-pipeline`) and are re-exported here. The `postgres` feature adds
//! `ToSql`/`FromSql` for the database layer in `avatar-adapters`.

#![warn(missing_docs)]

mod ids;
pub mod keys;
pub mod messages;
pub mod time;
pub mod upload;

pub use avatar_pipeline::{Crop, CropError, ImageFormat, Size, SourceFormat, Variant};
pub use ids::{AvatarId, Status, UserId, UserIdError};
