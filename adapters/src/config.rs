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

/// How the acting user is established (`AUTH_MODE`; [`avatar_usecases::auth`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// `header`: `X-User-ID` trusted as sent (behind an authenticating
    /// gateway, or locally). The default.
    Header,
    /// `jwt`: `Authorization: Bearer`, verified against the JWKS.
    Jwt,
    /// `authorizer`: the claims of API Gateway's JWT authorizer (Lambda).
    Authorizer,
}

impl AuthMode {
    /// The setting's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Jwt => "jwt",
            Self::Authorizer => "authorizer",
        }
    }
}

/// How `GET /api/v1/users/{user_id}/avatar` answers (`CURRENT_AVATAR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrentAvatar {
    /// `revalidate` (the default): the image, with its ETag and a short
    /// `max-age` plus `stale-while-revalidate`, so a change shows within
    /// `CURRENT_AVATAR_MAX_AGE_SECONDS` and checking costs a 304.
    Revalidate,
    /// `redirect`: `302 Found` to the immutable
    /// `/api/v1/avatars/{id}?…` URL (same query), itself cached for the
    /// short `max-age`; the bytes are then cached under the id's URL.
    Redirect,
}

/// Where thumbnails are cut from when the upload chose no square (`CROP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CropMode {
    /// `centre` (the default, the contract's): the centred cover crop.
    Centre,
    /// `attention`: the square chosen by content on the first render
    /// (`avatar_pipeline::attention`), kept with the avatar so that every
    /// later render cuts the same; the centre where nothing stands out.
    Attention,
}

/// What `jwt` and `authorizer` modes read (`JWT_*`).
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// `JWT_JWKS_URL`: where the signing keys are (https, or http to
    /// loopback only).
    pub jwks_url: String,
    /// `JWT_ISSUER`: the `iss` a token must have.
    pub issuer: String,
    /// `JWT_AUDIENCE`: the `aud` a token must have.
    pub audience: String,
    /// `JWT_USER_CLAIM`: the claim holding the user id (default `sub`).
    pub user_claim: String,
    /// `JWT_JWKS_REFRESH_SECONDS`: the least time between two fetches of
    /// the JWKS for an unknown `kid` (default 300 s).
    pub jwks_refresh: Duration,
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
    /// delivery of a fault (not of a transient failure) the thumbnail
    /// function marks the avatar `failed`; also the sweep's re-drives of a
    /// stuck avatar before it gives up.
    pub max_receive_count: u32,
    /// `VISIBILITY_TIMEOUT_SECONDS`: how long a received message stays hidden
    /// before SQS delivers it again; a failed message's first retry delay,
    /// doubled on each further delivery ([`avatar_runtime::events::retry_delay`]).
    pub visibility_timeout: Duration,
    /// `RETRY_MAX_SECONDS`: the longest a failed message waits before its
    /// next delivery (default 900 s; SQS allows 12 h).
    pub retry_max_delay: Duration,
    /// `PROCESSING_DEADLINE_SECONDS`: how long an avatar may stay
    /// `processing` (or `uploading` with its file arrived) without progress
    /// before the sweep sends its work again (default 1800 s).
    pub processing_deadline: Duration,
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
    /// `INLINE_UPLOAD_BYTES`: the upload page sends files up to this size
    /// in the multipart `POST /api/v1/avatars` and larger ones as a direct
    /// upload (presigned `PUT` to storage); published in `config.json`.
    /// The default, 4 MiB, is 5.6 MB once API Gateway base64-encodes it,
    /// multipart envelope included: under Lambda's 6 MB request limit.
    /// 0 = always direct.
    pub inline_upload_bytes: u64,
    /// `ORPHAN_GRACE_SECONDS`: age before the purge sweep touches an object
    /// without a row or a soft-deleted row whose purge event went missing.
    pub orphan_grace: Duration,
    /// `AUTH_MODE`: `header` (default), `jwt` or `authorizer`.
    pub auth_mode: AuthMode,
    /// The `JWT_*` settings (checked when `auth_mode` is `jwt`).
    pub jwt: JwtConfig,
    /// `UPLOADS_PER_USER_PER_MINUTE`: uploads (multipart or direct) one user
    /// may start per clock minute, across every instance; 0 = no limit.
    pub uploads_per_user_per_minute: u32,
    /// `MAX_AVATARS_PER_USER`: avatars one user may keep (not deleted);
    /// 0 = no limit.
    pub max_avatars_per_user: u32,
    /// `KEEP_AVATARS_PER_USER`: once a user has more visible avatars, the
    /// oldest non-current ones are soft-deleted and purged when a new one
    /// becomes ready (default 20, the gallery's page; 0 = keep all;
    /// [`avatar_usecases::deletion::prune_beyond_keep`]).
    pub keep_avatars_per_user: u32,
    /// `DECODE_MEMORY_MB`: the decode budget, MiB; `None` = derived from
    /// the function's memory ([`crate::budget`]).
    pub decode_memory_mb: Option<u64>,
    /// `DECODE_CONCURRENCY`: decodes (validation or render) at once;
    /// `None` = one per core ([`crate::budget`]).
    pub decode_concurrency: Option<usize>,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins allowed to call the
    /// API from a browser (`https://app.example`); empty = no CORS headers.
    pub cors_allowed_origins: Vec<String>,
    /// `THUMBNAIL_SIZES`: the square sides the thumbnail function renders
    /// after an upload, pixels, ascending (default `100,300,1200`, the
    /// contract's). A GET may ask for these and the contract's.
    pub thumbnail_sizes: Vec<avatar_domain::Size>,
    /// `CROP`: `centre` (default) or `attention`.
    pub crop: CropMode,
    /// `CURRENT_AVATAR`: `revalidate` (default) or `redirect`.
    pub current_avatar: CurrentAvatar,
    /// `CURRENT_AVATAR_MAX_AGE_SECONDS`: `max-age` of the current-avatar URL
    /// (default 10 s): how long a browser or CDN may show the previous
    /// avatar after a change.
    pub current_avatar_max_age: Duration,
    /// `HOT_CACHE_BYTES`: memory the get function keeps hot variants in,
    /// bytes (default 64 MiB; 0 = none; [`crate::cache`]).
    pub hot_cache_bytes: u64,
    /// `HOT_CACHE_TTL_SECONDS`: how long a hot variant is served from
    /// memory without asking the database whether its avatar is still
    /// visible (default 0: asked on every hit, one indexed query, so a
    /// delete is seen by every instance at once): the longest a deleted
    /// avatar may still be served by another instance.
    pub hot_cache_ttl: Duration,
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
        let invalid = |name: &'static str, value: &str, reason: &str| ConfigError {
            name,
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let auth_mode = match text("AUTH_MODE", "header").trim() {
            "header" => AuthMode::Header,
            "jwt" => AuthMode::Jwt,
            "authorizer" => AuthMode::Authorizer,
            other => {
                return Err(invalid(
                    "AUTH_MODE",
                    other,
                    "expected header, jwt or authorizer",
                ))
            }
        };
        let jwt = JwtConfig {
            jwks_url: text("JWT_JWKS_URL", "").trim().to_owned(),
            issuer: text("JWT_ISSUER", "").trim().to_owned(),
            audience: text("JWT_AUDIENCE", "").trim().to_owned(),
            user_claim: text("JWT_USER_CLAIM", "sub").trim().to_owned(),
            jwks_refresh: Duration::from_secs(number("JWT_JWKS_REFRESH_SECONDS", 300)?),
        };
        if auth_mode == AuthMode::Jwt {
            for (name, value) in [
                ("JWT_JWKS_URL", &jwt.jwks_url),
                ("JWT_ISSUER", &jwt.issuer),
                ("JWT_AUDIENCE", &jwt.audience),
            ] {
                if value.is_empty() {
                    return Err(invalid(name, value, "required when AUTH_MODE=jwt"));
                }
            }
            if !jwks_url_allowed(&jwt.jwks_url) {
                return Err(invalid(
                    "JWT_JWKS_URL",
                    &jwt.jwks_url,
                    "must be https (plain http only to 127.0.0.1, ::1 or localhost)",
                ));
            }
        }
        let decode_concurrency = match lookup("DECODE_CONCURRENCY") {
            None => None,
            Some(_) => Some(number("DECODE_CONCURRENCY", 0)?.clamp(1, 1024) as usize),
        };
        let decode_memory_mb = match lookup("DECODE_MEMORY_MB") {
            None => None,
            Some(_) => Some(number("DECODE_MEMORY_MB", 0)?.max(16)),
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
            retry_max_delay: Duration::from_secs(
                number("RETRY_MAX_SECONDS", 900)?.clamp(1, 12 * 3600),
            ),
            processing_deadline: Duration::from_secs(
                number("PROCESSING_DEADLINE_SECONDS", 1800)?.max(1),
            ),
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
            inline_upload_bytes: number("INLINE_UPLOAD_BYTES", 4 * 1024 * 1024)?,
            auth_mode,
            jwt,
            uploads_per_user_per_minute: number("UPLOADS_PER_USER_PER_MINUTE", 30)?
                .min(u64::from(u32::MAX)) as u32,
            max_avatars_per_user: number("MAX_AVATARS_PER_USER", 0)?.min(u64::from(u32::MAX))
                as u32,
            keep_avatars_per_user: number("KEEP_AVATARS_PER_USER", 20)?.min(u64::from(u32::MAX))
                as u32,
            decode_memory_mb,
            decode_concurrency,
            thumbnail_sizes: thumbnail_sizes(&text("THUMBNAIL_SIZES", "100,300,1200")).map_err(
                |reason| invalid("THUMBNAIL_SIZES", &text("THUMBNAIL_SIZES", ""), &reason),
            )?,
            crop: match text("CROP", "centre").trim() {
                "centre" | "center" => CropMode::Centre,
                "attention" => CropMode::Attention,
                other => return Err(invalid("CROP", other, "expected centre or attention")),
            },
            current_avatar: match text("CURRENT_AVATAR", "revalidate").trim() {
                "revalidate" => CurrentAvatar::Revalidate,
                "redirect" => CurrentAvatar::Redirect,
                other => {
                    return Err(invalid(
                        "CURRENT_AVATAR",
                        other,
                        "expected revalidate or redirect",
                    ))
                }
            },
            current_avatar_max_age: Duration::from_secs(number(
                "CURRENT_AVATAR_MAX_AGE_SECONDS",
                10,
            )?),
            hot_cache_bytes: number("HOT_CACHE_BYTES", 64 * 1024 * 1024)?,
            hot_cache_ttl: Duration::from_secs(number("HOT_CACHE_TTL_SECONDS", 0)?),
            cors_allowed_origins: text("CORS_ALLOWED_ORIGINS", "")
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
        })
    }

    /// The dead-letter queue paired with `queue`: `{queue}-dlq`.
    pub fn dead_letter_queue(queue: &str) -> String {
        format!("{queue}-dlq")
    }

    /// The pipeline limits derived from this configuration.
    pub fn image_limits(&self) -> avatar_pipeline::Limits {
        avatar_pipeline::Limits {
            max_pixels: self.max_pixels,
        }
    }

    /// `path` prefixed with [`Config::public_base_url`].
    pub fn public_url(&self, path: &str) -> String {
        format!("{}{path}", self.public_base_url)
    }
}

/// `THUMBNAIL_SIZES`: comma-separated sides (`100,300,1200`), each
/// `Size::MIN_SIDE..=Size::MAX_SIDE` pixels; at least one.
fn thumbnail_sizes(raw: &str) -> Result<Vec<avatar_domain::Size>, String> {
    let mut sizes = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|side| {
            avatar_domain::Size::parse(&format!("{side}x{side}")).ok_or_else(|| {
                format!(
                    "{side:?} is not a side of {}-{} pixels",
                    avatar_domain::Size::MIN_SIDE,
                    avatar_domain::Size::MAX_SIDE
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if sizes.is_empty() {
        return Err("at least one size".into());
    }
    sizes.sort();
    sizes.dedup();
    Ok(sizes)
}

impl Config {
    /// Whether a GET may ask for `size`: the original, the contract's
    /// squares, and the configured ones (never any other square, which
    /// would let a client make the service render arbitrary sizes).
    pub fn serves_size(&self, size: avatar_domain::Size) -> bool {
        size == avatar_domain::Size::Original
            || avatar_domain::Size::THUMBNAILS.contains(&size)
            || self.thumbnail_sizes.contains(&size)
    }

    /// The smallest thumbnail side the thumbnail function renders (the
    /// first of `THUMBNAIL_SIZES`, 100 by default), pixels: an upload's
    /// crop may not be smaller, or that thumbnail would be upscaled.
    pub fn min_thumbnail_side(&self) -> u32 {
        self.thumbnail_sizes
            .iter()
            .filter_map(|size| size.side())
            .min()
            .unwrap_or(1)
    }
}

/// Whether a JWKS may be fetched from `url`: https anywhere, plain http
/// only from this machine (a test's, or a sidecar's).
fn jwks_url_allowed(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    matches!(host, "127.0.0.1" | "::1" | "localhost")
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

    #[test]
    fn auth_settings() {
        let c = with(&[]).unwrap();
        assert_eq!(c.auth_mode, AuthMode::Header);
        assert_eq!(c.jwt.user_claim, "sub");
        assert_eq!(c.uploads_per_user_per_minute, 30);
        assert!(c.cors_allowed_origins.is_empty());
        let jwt = [
            ("AUTH_MODE", "jwt"),
            ("JWT_ISSUER", "https://issuer.example"),
            ("JWT_AUDIENCE", "avatars"),
        ];
        assert!(with(&jwt).is_err(), "the JWKS URL is required");
        for (url, ok) in [
            ("https://issuer.example/.well-known/jwks.json", true),
            ("http://127.0.0.1:8080/jwks", true),
            ("http://[::1]:8080/jwks", true),
            ("http://localhost/jwks", true),
            ("http://issuer.example/jwks", false),
            ("http://127.0.0.1.evil.example/jwks", false),
            ("ftp://127.0.0.1/jwks", false),
        ] {
            let mut vars = jwt.to_vec();
            vars.push(("JWT_JWKS_URL", url));
            assert_eq!(with(&vars).is_ok(), ok, "{url}");
        }
        assert!(with(&[("AUTH_MODE", "magic")]).is_err());
        let sizes = with(&[("THUMBNAIL_SIZES", "600, 100,300,100")]).unwrap();
        assert_eq!(
            sizes.thumbnail_sizes,
            [
                avatar_domain::Size::THUMB_100,
                avatar_domain::Size::THUMB_300,
                avatar_domain::Size::Square(600)
            ]
        );
        assert!(sizes.serves_size(avatar_domain::Size::Square(600)));
        assert!(
            sizes.serves_size(avatar_domain::Size::THUMB_1200),
            "the contract's sizes stay"
        );
        assert!(!sizes.serves_size(avatar_domain::Size::Square(64)));
        for bad in ["", "10", "100,abc", "5000"] {
            assert!(with(&[("THUMBNAIL_SIZES", bad)]).is_err(), "{bad:?}");
        }
        let c = with(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://a.example/, https://b.example",
        )])
        .unwrap();
        assert_eq!(
            c.cors_allowed_origins,
            ["https://a.example", "https://b.example"]
        );
    }
}
