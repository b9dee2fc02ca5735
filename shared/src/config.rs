//! Configuration: one typed struct, read from the environment once at cold
//! start. Every variable and its default is listed in the README
//! ("Configuration"); keep the two in step.

use std::time::Duration;

/// A variable was set to a value that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    name: &'static str,
    value: String,
    reason: String,
}

/// Service configuration (see the README for every default).
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: PostgreSQL connection string.
    pub database_url: String,
    /// `DATABASE_POOL_SIZE`: connections per function instance.
    pub database_pool_size: usize,
    /// `AVATAR_BUCKET`: bucket holding originals and variants.
    pub bucket: String,
    /// `WEB_BUCKET`: bucket holding the static web pages (`web-static/`) and
    /// their `config.json`; the gateway serves `/web/*` from it.
    pub web_bucket: String,
    /// `UPLOAD_QUEUE`: queue receiving the bucket's ObjectCreated notifications
    /// (the thumbnail function's event source).
    pub upload_queue: String,
    /// `DELETE_QUEUE`: queue receiving AvatarDeleteEvent (the purge function's
    /// event source).
    pub delete_queue: String,
    /// `MAX_RECEIVE_COUNT`: deliveries before SQS moves a message to the
    /// dead-letter queue (the redrive policy's `maxReceiveCount`); on the last
    /// delivery the thumbnail function marks the avatar `failed`.
    pub max_receive_count: u32,
    /// `VISIBILITY_TIMEOUT_SECONDS`: how long a received message stays hidden
    /// before SQS delivers it again (the retry delay after a failure).
    pub visibility_timeout: Duration,
    /// `MAX_UPLOAD_BYTES`: largest accepted file, bytes (contract: 10 MiB).
    pub max_upload_bytes: u64,
    /// `MAX_PIXELS`: pixel budget, width × height, checked before decoding.
    pub max_pixels: u64,
    /// `PUBLIC_BASE_URL`: prefix for URLs in responses (`https://cdn.example`);
    /// empty means root-relative URLs.
    pub public_base_url: String,
    /// `S3_FORCE_PATH_STYLE`: path-style S3 addressing (emulators need it).
    pub s3_force_path_style: bool,
    /// `UPLOAD_URL_TTL_SECONDS`: lifetime of a direct upload's presigned URL
    /// (contract, `POST /api/v1/avatars/uploads`); an upload still missing
    /// after this plus `ORPHAN_GRACE_SECONDS` is expired by the sweep.
    pub upload_url_ttl: Duration,
    /// `DOWNLOAD_URL_TTL_SECONDS`: lifetime of the presigned URL a large
    /// image is redirected to.
    pub download_url_ttl: Duration,
    /// `REDIRECT_ABOVE_BYTES`: images larger than this are answered with
    /// `307` to a presigned URL instead of their bytes. The default, 4 MiB,
    /// is 5.6 MB once API Gateway base64-encodes it: under Lambda's 6 MB
    /// response limit (contract, "Fetch the image").
    pub redirect_above_bytes: u64,
    /// `ORPHAN_GRACE_SECONDS`: age before the purge sweep touches an object
    /// without a row or a soft-deleted row whose purge event went missing.
    pub orphan_grace: Duration,
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first variable that does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first variable that does not parse.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = |name: &str, default: &str| lookup(name).unwrap_or_else(|| default.to_owned());
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match lookup(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|e: std::num::ParseIntError| ConfigError {
                        name,
                        value: v.clone(),
                        reason: e.to_string(),
                    }),
            }
        };
        let flag = |name: &'static str| -> Result<bool, ConfigError> {
            match lookup(name).as_deref().map(str::trim) {
                None | Some("" | "0" | "false" | "no") => Ok(false),
                Some("1" | "true" | "yes") => Ok(true),
                Some(other) => Err(ConfigError {
                    name,
                    value: other.to_owned(),
                    reason: "expected true or false".into(),
                }),
            }
        };
        let max_receive_count = number("MAX_RECEIVE_COUNT", 5)?;
        if !(1..=1000).contains(&max_receive_count) {
            return Err(ConfigError {
                name: "MAX_RECEIVE_COUNT",
                value: max_receive_count.to_string(),
                reason: "SQS accepts 1-1000".into(),
            });
        }
        Ok(Self {
            database_url: text("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/avatars"),
            database_pool_size: number("DATABASE_POOL_SIZE", 8)?.max(1) as usize,
            bucket: text("AVATAR_BUCKET", "avatars"),
            web_bucket: text("WEB_BUCKET", "avatar-web"),
            upload_queue: text("UPLOAD_QUEUE", "avatar-uploads"),
            delete_queue: text("DELETE_QUEUE", "avatar-deletes"),
            max_receive_count: max_receive_count as u32,
            visibility_timeout: Duration::from_secs(number("VISIBILITY_TIMEOUT_SECONDS", 30)?),
            max_upload_bytes: number("MAX_UPLOAD_BYTES", 10 * 1024 * 1024)?,
            max_pixels: number("MAX_PIXELS", 50_000_000)?,
            public_base_url: text("PUBLIC_BASE_URL", "").trim_end_matches('/').to_owned(),
            s3_force_path_style: flag("S3_FORCE_PATH_STYLE")?,
            orphan_grace: Duration::from_secs(number("ORPHAN_GRACE_SECONDS", 3600)?),
            upload_url_ttl: Duration::from_secs(
                number("UPLOAD_URL_TTL_SECONDS", 900)?.clamp(1, 604_800),
            ),
            download_url_ttl: Duration::from_secs(
                number("DOWNLOAD_URL_TTL_SECONDS", 300)?.clamp(1, 604_800),
            ),
            redirect_above_bytes: number("REDIRECT_ABOVE_BYTES", 4 * 1024 * 1024)?,
        })
    }

    /// The dead-letter queue paired with `queue`: `{queue}-dlq`.
    pub fn dead_letter_queue(queue: &str) -> String {
        format!("{queue}-dlq")
    }

    /// The pipeline limits derived from this configuration.
    pub fn image_limits(&self) -> crate::pipeline::Limits {
        crate::pipeline::Limits {
            max_pixels: self.max_pixels,
        }
    }

    /// `path` prefixed with [`Config::public_base_url`].
    pub fn public_url(&self, path: &str) -> String {
        format!("{}{path}", self.public_base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = with(&[]).unwrap();
        assert_eq!(c.max_upload_bytes, 10_485_760);
        assert_eq!(c.max_pixels, 50_000_000);
        assert_eq!(c.max_receive_count, 5);
        assert!(!c.s3_force_path_style);
        assert_eq!(c.public_url("/api/v1/avatars/x"), "/api/v1/avatars/x");
    }

    #[test]
    fn overrides_and_errors() {
        let c = with(&[
            ("MAX_UPLOAD_BYTES", "1024"),
            ("S3_FORCE_PATH_STYLE", "true"),
            ("PUBLIC_BASE_URL", "https://img.example/"),
        ])
        .unwrap();
        assert_eq!(c.max_upload_bytes, 1024);
        assert!(c.s3_force_path_style);
        assert_eq!(c.public_url("/a"), "https://img.example/a");
        let err = with(&[("MAX_PIXELS", "lots")]).unwrap_err();
        assert!(err.to_string().contains("MAX_PIXELS"));
        assert!(with(&[("MAX_RECEIVE_COUNT", "0")]).is_err());
        assert!(with(&[("S3_FORCE_PATH_STYLE", "maybe")]).is_err());
    }
}
