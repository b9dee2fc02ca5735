//! S3: the one module that talks to object storage.

use std::time::Duration;

use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::Bytes;
use chrono::{DateTime, Utc};

/// An object-storage failure (network, throttling, permissions). Maps to 503.
#[derive(Debug, thiserror::Error)]
#[error("storage {operation} failed: {message}")]
pub struct StorageError {
    operation: &'static str,
    message: String,
}

impl StorageError {
    fn new<E: std::error::Error + 'static, R: std::fmt::Debug>(
        operation: &'static str,
        e: SdkError<E, R>,
    ) -> Self {
        Self {
            operation,
            message: DisplayErrorContext(&e).to_string(),
        }
    }
}

/// Presigned URL lifetime; S3 accepts 1 s to 7 days.
fn presigning(ttl: Duration) -> Result<PresigningConfig, StorageError> {
    PresigningConfig::expires_in(ttl).map_err(|e| StorageError {
        operation: "presign",
        message: e.to_string(),
    })
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

    /// The underlying client (bootstrap and tests).
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// Stores `body` under `key` with `Content-Type` and a one-day cache hint.
    ///
    /// # Errors
    /// [`StorageError`].
    pub async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| StorageError::new("put", e))?;
        Ok(())
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
            .map_err(|e| StorageError::new("presign", e))?;
        Ok(request.uri().to_owned())
    }

    /// A presigned `PUT` of `key` that S3 accepts only with exactly this
    /// `Content-Type` and `Content-Length` (both are signed headers), valid
    /// for `ttl`. Returns the URL and the headers the client must send.
    ///
    /// # Errors
    /// [`StorageError`] when the URL cannot be signed (no credentials).
    pub async fn presigned_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
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
            .presigned(config)
            .await
            .map_err(|e| StorageError::new("presign", e))?;
        let headers = request
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok((request.uri().to_owned(), headers))
    }

    /// Reads a whole object; `None` when it does not exist.
    ///
    /// # Errors
    /// [`StorageError`] for anything but a missing key.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(StorageError::new("get", e)),
        };
        let body = out.body.collect().await.map_err(|e| StorageError {
            operation: "get",
            message: e.to_string(),
        })?;
        Ok(Some(body.into_bytes()))
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
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StorageError::new("list", e))?;
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
                .map_err(|e| StorageError {
                    operation: "delete",
                    message: e.to_string(),
                })?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StorageError {
                    operation: "delete",
                    message: e.to_string(),
                })?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| StorageError::new("delete", e))?;
            if let Some(err) = out.errors().first() {
                return Err(StorageError {
                    operation: "delete",
                    message: format!(
                        "{} object(s) not deleted, first: {:?} {:?}",
                        out.errors().len(),
                        err.code(),
                        err.message()
                    ),
                });
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
            .await
            .map_err(|e| StorageError::new("head bucket", e))?;
        Ok(())
    }
}
