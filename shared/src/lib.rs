//! The library every avatar function links: domain types, the image
//! pipeline, storage (S3), queue (SQS), database (PostgreSQL), HTTP helpers,
//! telemetry and the runtime switch. Function binaries only wire these up.
//!
//! See `ARCHITECTURE.md` beside the repository for the flow of an avatar and
//! `api-contract.md` for the HTTP contract this implements.
#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod health;
pub mod http;
pub mod keys;
pub mod pipeline;
pub mod queue;
pub mod renditions;
pub mod routes;
pub mod runtime;
pub mod storage;
pub mod telemetry;
pub mod testing;
pub mod time;

pub use app::AppState;
pub use config::Config;
pub use domain::{AvatarId, ImageFormat, Size, Status, UserId, Variant};
