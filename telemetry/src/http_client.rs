//! An outgoing HTTPS client (hyper with rustls and the system's roots, the
//! stack the AWS SDK already links): the OTLP exporter's and the JWKS
//! fetcher's.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

/// A boxed error of a request.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The client; cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct HttpsClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpsClient {
    /// `https://` and `http://` URLs, HTTP/1.1, rustls (aws-lc-rs) with the
    /// system's trust roots.
    ///
    /// # Errors
    /// When the system's roots cannot be read.
    pub fn new() -> Result<Self, String> {
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| format!("TLS roots: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(hyper_util::rt::TokioExecutor::new()).build(tls),
        })
    }

    /// Sends `request` and reads the whole answer, within `timeout`.
    ///
    /// # Errors
    /// Connection, TLS, timeout or body errors.
    pub async fn send(
        &self,
        request: http::Request<Bytes>,
        timeout: Duration,
    ) -> Result<http::Response<Bytes>, BoxError> {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(body));
        let call = async {
            let response = self.client.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, BoxError>(http::Response::from_parts(parts, body))
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| BoxError::from(format!("no answer within {timeout:?}")))?
    }

    /// `GET url` within `timeout`: the answer's status and body.
    ///
    /// # Errors
    /// As [`HttpsClient::send`], or a URL that does not parse.
    pub async fn get(
        &self,
        url: &str,
        timeout: Duration,
    ) -> Result<http::Response<Bytes>, BoxError> {
        let request = http::Request::get(url).body(Bytes::new())?;
        self.send(request, timeout).await
    }
}
