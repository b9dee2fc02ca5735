//! `avatar-usecases`: what the service does, knowing neither HTTP nor where
//! it runs. Each use case takes the adapters it needs and returns its own
//! error type; the HTTP edge (`avatar-http`) maps those to status + JSON and
//! the event edge (`avatar-runtime`'s `events`) to retry or poison.
//!
//! * [`uploads`]: the per-user limits of a new upload, and storing a
//!   multipart upload as a new avatar;
//! * [`originals`]: ingest a file as an avatar's stored original;
//! * [`renditions`]: render variants from it and store them;
//! * [`processing`]: after a file arrived, accept a direct upload, render
//!   the thumbnails, mark the avatar `ready`;
//! * [`deletion`]: announce a soft delete, prune beyond the kept count;
//! * [`purge`]: remove a deleted avatar for good, and the sweep that
//!   finishes what lost events and crashes left;
//! * [`backfill`]: send the work of avatars an older configuration or
//!   pipeline rendered;
//! * [`auth`]: who is acting, from the credentials a request carried;
//! * [`app`]: [`AppState`], what a binary builds at cold start and hands
//!   to its handlers.
#![warn(missing_docs)]

pub mod app;
pub mod auth;
pub mod backfill;
pub mod deletion;
pub mod originals;
pub mod processing;
pub mod purge;
pub mod renditions;
pub mod uploads;

pub use app::AppState;
