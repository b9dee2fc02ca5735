//! S3: the one module that talks to object storage. Each bucket of the
//! service is a [`Storage`] (the avatar bucket, and the web bucket the
//! pages are served from), sharing one client.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::aws::{client_span, AwsError};
use tracing::Instrument;

/// An object-storage failure (network, throttling, permissions). Maps to 503.
pub type StorageError = AwsError;

fn failed<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> StorageError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    move |e| AwsError::sdk("storage", operation, e)
}

/// Presigned URL lifetime; S3 accepts 1 s to 7 days.
fn presigning(ttl: Duration) -> Result<PresigningConfig, StorageError> {
    PresigningConfig::expires_in(ttl).map_err(|e| AwsError::new("storage", "presign", false, e))
}

/// An object read with what S3 says about it.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// The whole body.
    pub bytes: Bytes,
    /// Its `Content-Type` as stored (`application/octet-stream` if none).
    pub content_type: String,
    /// S3's ETag, without quotes (empty when the store gives none).
    pub etag: String,
}

/// One listed object.
#[derive(Debug, Clone)]
pub struct ListedObject {
    /// Key.
    pub key: String,
    /// Last modification time (UNIX epoch when the store does not say).
    pub last_modified: DateTime<Utc>,
}

/// A bucket of the service.
#[derive(Clone, Debug)]
pub struct Storage {
    client: aws_sdk_s3::Client,
    bucket: String,
}

/// `DeleteObjects` takes at most 1000 keys (S3 API limit).
const DELETE_BATCH: usize = 1000;

impl Storage {
    /// Wraps a client built once per cold start.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The same client on another bucket (the web bucket).
    pub fn bucket_named(&self, bucket: impl Into<String>) -> Self {
        Self::new(self.client.clone(), bucket)
    }

    /// The client span of one call of this bucket (`S3.{method}`).
    fn span(&self, method: &'static str) -> tracing::Span {
        client_span("S3", method, &self.bucket)
    }

    /// Stores `body` under `key` with its `Content-Type`.
    ///
    /// # Errors
    /// [`StorageError`].
    pub async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.put_with_metadata(key, body, content_type, HashMap::new())
            .await
    }

    /// Stores `body` under `key` with its `Content-Type` and user metadata
    /// (`x-amz-meta-{name}`; S3 allows 2 KB of it): how an original keeps
    /// the trace context of its upload for the thumbnail function.
    ///
    /// # Errors
    /// [`StorageError`].
    pub async fn put_with_metadata(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        metadata: HashMap<String, String>,
    ) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .set_metadata((!metadata.is_empty()).then_some(metadata))
            .body(ByteStream::from(body))
            .send()
            .instrument(self.span("PutObject"))
            .await
            .map_err(failed("put"))?;
        Ok(())
    }

    /// The user metadata of `key` (`HeadObject`), untraced: the thumbnail
    /// function reads an original's trace context with it before its own
    /// span starts. `None` when the object is missing or unreadable.
    pub async fn metadata(&self, key: &str) -> Option<HashMap<String, String>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out.metadata,
            Err(e) => {
                tracing::debug!(error = %AwsError::sdk("storage", "head", e), key, "no metadata");
                None
            }
        }
    }

    /// Whether `key` exists (`HeadObject`).
    ///
    /// # Errors
    /// [`StorageError`] for anything but a missing key.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .instrument(client_span("S3", "HeadObject", &self.bucket))
            .await;
        match head {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
            Err(e) => Err(failed("head")(e)),
        }
    }

    /// A presigned `GET` of `key`, valid for `ttl` (SigV4 query signing; at
    /// most 7 days, an S3 limit).
    ///
    /// # Errors
    /// [`StorageError`] when the URL cannot be signed (no credentials).
    pub async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<String, StorageError> {
        let config = presigning(ttl)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(failed("presign"))?;
        Ok(request.uri().to_owned())
    }

    /// A presigned `PUT` of `key` that S3 accepts only with exactly this
    /// `Content-Type`, `Content-Length` and user `metadata` (all signed
    /// headers), valid for `ttl`. Returns the URL and the headers the
    /// client must send.
    ///
    /// # Errors
    /// [`StorageError`] when the URL cannot be signed (no credentials).
    pub async fn presigned_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        metadata: HashMap<String, String>,
        ttl: Duration,
    ) -> Result<(String, Vec<(String, String)>), StorageError> {
        let config = presigning(ttl)?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(content_length as i64)
            .set_metadata((!metadata.is_empty()).then_some(metadata))
            .presigned(config)
            .await
            .map_err(failed("presign"))?;
        let headers = request
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok((request.uri().to_owned(), headers))
    }

    /// The origin (`scheme://host[:port]`) a browser sends this bucket's
    /// presigned requests to — the emulator's endpoint, or
    /// `https://{bucket}.s3.{region}.amazonaws.com` — for a page's
    /// `connect-src`. Read off a presigned URL, so it follows the client's
    /// addressing (path style or virtual host) exactly; no request is made.
    ///
    /// # Errors
    /// [`StorageError`] when no URL can be signed (no credentials).
    pub async fn presigned_origin(&self) -> Result<String, StorageError> {
        let url = self
            .presigned_get("origin", Duration::from_secs(60))
            .await?;
        let uri: http::Uri = url
            .parse()
            .map_err(|e| AwsError::new("storage", "presign", false, e))?;
        Ok(match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
            _ => String::new(),
        })
    }

    /// Reads a whole object; `None` when it does not exist.
    ///
    /// # Errors
    /// [`StorageError`] for anything but a missing key.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        Ok(self.get_object(key).await?.map(|o| o.bytes))
    }

    /// Reads a whole object with its `Content-Type` and ETag; `None` when
    /// it does not exist.
    ///
    /// # Errors
    /// [`StorageError`] for anything but a missing key.
    pub async fn get_object(&self, key: &str) -> Result<Option<StoredObject>, StorageError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .instrument(self.span("GetObject"))
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(failed("get")(e)),
        };
        let content_type = out
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_owned();
        let etag = out.e_tag().unwrap_or_default().trim_matches('"').to_owned();
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| AwsError::new("storage", "get", true, e))?;
        Ok(Some(StoredObject {
            bytes: body.into_bytes(),
            content_type,
            etag,
        }))
    }

    /// Lists every object whose key starts with `prefix` (all pages).
    ///
    /// # Errors
    /// [`StorageError`].
    pub async fn list(&self, prefix: &str) -> Result<Vec<ListedObject>, StorageError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().instrument(self.span("ListObjectsV2")).await {
            let page = page.map_err(failed("list"))?;
            for obj in page.contents() {
                if let Some(key) = obj.key() {
                    let last_modified = obj
                        .last_modified()
                        .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                        .unwrap_or_default();
                    out.push(ListedObject {
                        key: key.to_owned(),
                        last_modified,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Deletes `keys` (missing keys are not an error: S3 delete is idempotent).
    ///
    /// # Errors
    /// [`StorageError`], including per-key errors S3 reports inside a 200.
    pub async fn delete_keys(&self, keys: &[String]) -> Result<(), StorageError> {
        for chunk in keys.chunks(DELETE_BATCH) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| AwsError::new("storage", "delete", false, e))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| AwsError::new("storage", "delete", false, e))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .instrument(self.span("DeleteObjects"))
                .await
                .map_err(failed("delete"))?;
            if let Some(err) = out.errors().first() {
                // Per-key failures inside a 200 (AccessDenied, InternalError):
                // S3 asks for a retry of those keys.
                return Err(AwsError::new(
                    "storage",
                    "delete",
                    true,
                    format!(
                        "{} object(s) not deleted, first: {:?} {:?}",
                        out.errors().len(),
                        err.code(),
                        err.message()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Deletes every object under each prefix; returns how many were deleted.
    ///
    /// # Errors
    /// [`StorageError`].
    pub async fn delete_prefixes(&self, prefixes: &[String]) -> Result<usize, StorageError> {
        let mut keys = Vec::new();
        for prefix in prefixes {
            keys.extend(self.list(prefix).await?.into_iter().map(|o| o.key));
        }
        self.delete_keys(&keys).await?;
        Ok(keys.len())
    }

    /// `HeadBucket`, for the health check.
    ///
    /// # Errors
    /// [`StorageError`].
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .instrument(self.span("HeadBucket"))
            .await
            .map_err(failed("head bucket"))?;
        Ok(())
    }
}
