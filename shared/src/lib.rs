//! The library every avatar function links: domain types, storage (S3),
//! queue (SQS), database (PostgreSQL), HTTP helpers, telemetry and the
//! runtime switch. The image pipeline is its own crate (`avatar-pipeline`,
//! re-exported as [`pipeline`]). Function binaries only wire these up.
//!
//! `docs/api.md` describes the HTTP API this implements, and the README
//! the flow of an avatar.
#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod auth;
pub mod aws;
pub mod budget;
pub mod cache;
pub mod config;
pub mod db;
pub mod deletion;
pub mod domain;
pub mod events;
pub mod health;
pub mod http;
pub mod http_client;
pub mod keys;
pub mod linger;
pub mod metrics;
pub mod originals;
pub mod queue;
pub mod renditions;
pub mod routes;
pub mod runtime;
pub mod storage;
pub mod telemetry;
pub mod time;

pub use app::AppState;
pub use avatar_pipeline as pipeline;
pub use config::Config;
pub use domain::{AvatarId, ImageFormat, Size, Status, UserId, Variant};
