//! `avatar-adapters`: the outside world behind types, each built once at
//! cold start from [`Config`]:
//!
//! * [`config`]: every setting, read from the environment once;
//! * [`db`]: PostgreSQL — the pool, the migrations, every SQL statement;
//! * [`storage`] and [`queue`]: S3 (both buckets) and SQS (every queue),
//!   over the clients of [`aws`];
//! * [`cache`]: the get function's hot variants, in memory;
//! * [`budget`]: the decode memory every image decode reserves first.
//!
//! It names the domain, the pipeline and telemetry below it and nothing
//! above: no use case, no HTTP, no Lambda.
#![warn(missing_docs)]

pub mod aws;
pub mod budget;
pub mod cache;
pub mod config;
pub mod db;
pub mod queue;
pub mod storage;

pub use config::Config;
