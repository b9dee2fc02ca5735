//! The AWS clients (built once per cold start) and the one error type for a
//! failed call to S3 or SQS.

use std::fmt::Display;

use aws_sdk_s3::error::{DisplayErrorContext, SdkError};

use crate::config::Config;

/// A failed call to S3 or SQS: network, throttling, permissions, a missing
/// bucket or queue. Clients see 503 (the dependency is unavailable); the
/// message, with the SDK's whole error context, is only logged.
#[derive(Debug, thiserror::Error)]
#[error("{service} {operation} failed: {message}")]
pub struct AwsError {
    service: &'static str,
    operation: &'static str,
    message: String,
}

impl AwsError {
    /// An error returned by an SDK call, with its whole context (the
    /// service's code and message, or the connector's error).
    pub fn sdk<E: std::error::Error + 'static, R: std::fmt::Debug>(
        service: &'static str,
        operation: &'static str,
        error: SdkError<E, R>,
    ) -> Self {
        Self::new(service, operation, DisplayErrorContext(&error))
    }

    /// Any other failure of `operation` (a body that broke off, a request
    /// that could not be built or signed).
    pub fn new(service: &'static str, operation: &'static str, message: impl Display) -> Self {
        Self {
            service,
            operation,
            message: message.to_string(),
        }
    }
}

/// The client span of one AWS call (OpenTelemetry's AWS SDK conventions:
/// `rpc.system = aws-api`, `rpc.service`, `rpc.method`), naming the bucket
/// or queue it concerns (`aws.s3.bucket`; `messaging.destination.name`
/// for SQS). Only inside a span: calls outside any (the local event source
/// mapping's polling, the metrics poller) start no trace of their own.
pub fn client_span(service: &'static str, method: &'static str, resource: &str) -> tracing::Span {
    if tracing::Span::current().is_none() {
        return tracing::Span::none();
    }
    let name = format!("{service}.{method}");
    if service == "S3" {
        tracing::info_span!(
            "aws_call",
            otel.name = %name,
            otel.kind = "client",
            rpc.system = "aws-api",
            rpc.service = service,
            rpc.method = method,
            aws.s3.bucket = resource,
        )
    } else {
        tracing::info_span!(
            "aws_call",
            otel.name = %name,
            otel.kind = "client",
            rpc.system = "aws-api",
            rpc.service = service,
            rpc.method = method,
            messaging.system = "aws_sqs",
            messaging.destination.name = resource,
        )
    }
}

/// S3 and SQS clients from the standard AWS configuration chain
/// (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL[_S3|_SQS]` for emulators),
/// S3 path-style addressing when configured.
pub async fn clients(config: &Config) -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(config.s3_force_path_style)
        .build();
    (
        aws_sdk_s3::Client::from_conf(s3),
        aws_sdk_sqs::Client::new(&sdk),
    )
}
