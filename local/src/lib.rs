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
