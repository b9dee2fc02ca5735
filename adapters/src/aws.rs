//! The AWS clients (built once per cold start) and the one error type for a
//! failed call to S3 or SQS.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::config::Config;

/// A boxed error, the cause of an [`AwsError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Error codes S3 and SQS answer when they shed load or fail inside:
/// worth retrying.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
];

/// A failed call to S3 or SQS. [`AwsError::is_transient`] says which side
/// of the line it is on: network failures, timeouts, throttling and 5xx are
/// transient (clients see 503 with `Retry-After`); anything else —
/// permissions, a missing bucket or queue, a request that cannot be built —
/// is a fault of the deployment or the code (500). The SDK's error is kept
/// as the `source`, so the log line has the whole chain; clients see none
/// of it.
#[derive(Debug, thiserror::Error)]
#[error("{service} {operation} failed")]
pub struct AwsError {
    service: &'static str,
    operation: &'static str,
    transient: bool,
    #[source]
    source: BoxError,
}

impl AwsError {
    /// An error returned by an SDK call, classified by its kind, its HTTP
    /// status and its error code.
    pub fn sdk<E>(
        service: &'static str,
        operation: &'static str,
        error: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    {
        let transient = match &error {
            SdkError::DispatchFailure(_)
            | SdkError::TimeoutError(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(e) => {
                let status = e.raw().status().as_u16();
                status >= 500
                    || status == 429
                    || e.err()
                        .code()
                        .is_some_and(|code| TRANSIENT_CODES.contains(&code))
            }
            _ => false,
        };
        Self {
            service,
            operation,
            transient,
            source: Box::new(error),
        }
    }

    /// A failure of `operation` outside the SDK's own errors: a response
    /// body that broke off (`transient`), a request that could not be built
    /// or signed (not).
    pub fn new(
        service: &'static str,
        operation: &'static str,
        transient: bool,
        cause: impl Into<BoxError>,
    ) -> Self {
        Self {
            service,
            operation,
            transient,
            source: cause.into(),
        }
    }

    /// Whether retrying later may succeed (503) rather than not (500).
    pub fn is_transient(&self) -> bool {
        self.transient
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
