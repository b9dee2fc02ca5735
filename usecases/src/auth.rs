//! Identity: who is acting (contract, "Identity"), decided in one place for
//! every mode from the [`Credentials`] a request carried, so nothing below
//! the HTTP edge's `ActingUser` extractor (which gathers them) knows which
//! (`AUTH_MODE`, README "Security"):
//!
//! * `header` — `X-User-ID` is trusted as sent: for a gateway in front that
//!   authenticates and sets it, and for local use. Never on the internet.
//! * `jwt` — `Authorization: Bearer <JWT>`, verified here: RS256, ES256 or
//!   EdDSA with a key from the JWKS at `JWT_JWKS_URL` (cached; an unknown
//!   `kid` refetches it at most once per `JWT_JWKS_REFRESH_SECONDS`), the
//!   algorithm taken from the key, never from the token (no `none`, no
//!   HS256 with a public key as the secret); `iss` = `JWT_ISSUER`, `aud` =
//!   `JWT_AUDIENCE`, `exp` and `nbf` with [`LEEWAY_SECONDS`]; the user id is
//!   the `JWT_USER_CLAIM` claim (default `sub`), a valid [`UserId`].
//!   `X-User-ID` is ignored.
//! * `authorizer` — on Lambda behind the HTTP API's JWT authorizer, which
//!   has verified the token already: the user id is the claim in the
//!   request context; no token is verified twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::RwLock;

use avatar_adapters::config::{AuthMode, JwtConfig};
use avatar_domain::UserId;
use avatar_telemetry::http_client::HttpsClient;

/// Allowed clock skew for `exp` and `nbf`, seconds.
pub const LEEWAY_SECONDS: u64 = 30;

/// How long fetching the JWKS may take.
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no user could be established.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No identity was sent (no `X-User-ID`, no bearer token): 401.
    #[error("no credentials")]
    Missing,
    /// `X-User-ID` is not a valid user id: 400 (header mode).
    #[error("invalid user id: {0}")]
    InvalidUserId(String),
    /// A token was sent but is not acceptable: 401 with RFC 6750's
    /// `invalid_token`.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The keys to verify with could not be had (the JWKS endpoint is
    /// down): 503, the token may well be good.
    #[error("token keys unavailable")]
    KeysUnavailable(#[source] avatar_telemetry::http_client::BoxError),
}

/// What a request carried to say who is acting, as the HTTP edge found it:
/// header values as raw bytes (their checks are identity's, not HTTP's).
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// The `X-User-ID` header's value (`header` mode).
    pub user_id_header: Option<&'a [u8]>,
    /// The `Authorization` header's value (`jwt` mode).
    pub authorization: Option<&'a [u8]>,
    /// The claims API Gateway's HTTP API JWT authorizer verified, from the
    /// Lambda request context (`requestContext.authorizer.jwt.claims`;
    /// `authorizer` mode).
    pub authorizer_claims: Option<&'a HashMap<String, String>>,
}

/// The acting user of a request, by `AUTH_MODE`.
#[derive(Debug)]
pub struct Authenticator {
    mode: AuthMode,
    user_claim: String,
    jwt: Option<JwtVerifier>,
}

impl Authenticator {
    /// The authenticator `mode` describes (the verifier for `jwt`, which
    /// fetches no key before the first token).
    ///
    /// # Errors
    /// When the HTTPS client cannot be built.
    pub fn new(mode: AuthMode, jwt: &JwtConfig) -> Result<Self, String> {
        let verifier = match mode {
            AuthMode::Jwt => Some(JwtVerifier::new(jwt.clone())?),
            AuthMode::Header | AuthMode::Authorizer => None,
        };
        Ok(Self {
            mode,
            user_claim: jwt.user_claim.clone(),
            jwt: verifier,
        })
    }

    /// The mode.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// The user a request with `credentials` acts for.
    ///
    /// # Errors
    /// [`AuthError`].
    pub async fn user(&self, credentials: Credentials<'_>) -> Result<UserId, AuthError> {
        match self.mode {
            AuthMode::Header => {
                let value = credentials.user_id_header.ok_or(AuthError::Missing)?;
                let raw = visible_ascii(value)
                    .ok_or_else(|| AuthError::InvalidUserId("user id must be ASCII".into()))?;
                UserId::parse(raw).map_err(|e| AuthError::InvalidUserId(e.to_string()))
            }
            AuthMode::Jwt => {
                let token = bearer_token(credentials.authorization)?;
                let verifier = self.jwt.as_ref().expect("jwt mode has a verifier");
                let claims = verifier.verify(token).await?;
                user_from_claim(
                    claims.get(&self.user_claim).and_then(|v| v.as_str()),
                    &self.user_claim,
                )
            }
            AuthMode::Authorizer => {
                let claims = credentials.authorizer_claims.ok_or(AuthError::Missing)?;
                user_from_claim(
                    claims.get(&self.user_claim).map(String::as_str),
                    &self.user_claim,
                )
            }
        }
    }
}

/// `value` as text when it is visible ASCII (or tab), as RFC 9110 §5.5
/// wants a header field value that carries an identifier.
fn visible_ascii(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| (b' '..0x7f).contains(&b) || b == b'\t')
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

/// The token of `Authorization: Bearer <token>`.
fn bearer_token(authorization: Option<&[u8]>) -> Result<&str, AuthError> {
    let value = visible_ascii(authorization.ok_or(AuthError::Missing)?)
        .ok_or_else(|| AuthError::InvalidToken("the Authorization header is not ASCII".into()))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        AuthError::InvalidToken("expected `Authorization: Bearer <token>`".into())
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::InvalidToken(
            "expected `Authorization: Bearer <token>`".into(),
        ));
    }
    Ok(token.trim())
}

fn user_from_claim(value: Option<&str>, claim: &str) -> Result<UserId, AuthError> {
    let raw =
        value.ok_or_else(|| AuthError::InvalidToken(format!("the token has no {claim} claim")))?;
    UserId::parse(raw).map_err(|e| {
        AuthError::InvalidToken(format!("the {claim} claim is not a valid user id: {e}"))
    })
}

/// The keys of the JWKS, fetched lazily and refreshed on an unknown `kid`.
#[derive(Debug)]
struct JwtVerifier {
    config: JwtConfig,
    http: HttpsClient,
    keys: RwLock<Keys>,
}

#[derive(Debug, Default)]
struct Keys {
    by_kid: HashMap<String, Arc<Jwk>>,
    fetched: Option<Instant>,
}

impl JwtVerifier {
    fn new(config: JwtConfig) -> Result<Self, String> {
        Ok(Self {
            config,
            http: HttpsClient::new()?,
            keys: RwLock::default(),
        })
    }

    /// Verifies `token`; its claims.
    async fn verify(
        &self,
        token: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, AuthError> {
        let invalid = |e: jsonwebtoken::errors::Error| AuthError::InvalidToken(describe(&e));
        let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
        let kid = header
            .kid
            .ok_or_else(|| AuthError::InvalidToken("the token names no key (kid)".into()))?;
        let jwk = self.key(&kid).await?;
        let algorithm = algorithm_of(&jwk).ok_or_else(|| {
            AuthError::InvalidToken(format!("key {kid} is not an RS256, ES256 or EdDSA key"))
        })?;
        if header.alg != algorithm {
            return Err(AuthError::InvalidToken(format!(
                "the token says {:?}, its key is {algorithm:?}",
                header.alg
            )));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(invalid)?;
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(invalid)
    }

    /// The key `kid`; an unknown one refetches the JWKS, at most once per
    /// `JWT_JWKS_REFRESH_SECONDS`.
    async fn key(&self, kid: &str) -> Result<Arc<Jwk>, AuthError> {
        if let Some(key) = self.keys.read().await.by_kid.get(kid) {
            return Ok(key.clone());
        }
        let mut keys = self.keys.write().await;
        if let Some(key) = keys.by_kid.get(kid) {
            return Ok(key.clone());
        }
        let stale = keys
            .fetched
            .is_none_or(|at| at.elapsed() >= self.config.jwks_refresh);
        if stale {
            let set = self.fetch().await?;
            keys.by_kid = set
                .keys
                .into_iter()
                .filter_map(|k| Some((k.common.key_id.clone()?, Arc::new(k))))
                .collect();
            keys.fetched = Some(Instant::now());
        }
        keys.by_kid
            .get(kid)
            .cloned()
            .ok_or_else(|| AuthError::InvalidToken(format!("unknown key {kid}")))
    }

    async fn fetch(&self) -> Result<JwkSet, AuthError> {
        let response = self
            .http
            .get(&self.config.jwks_url, JWKS_TIMEOUT)
            .await
            .map_err(AuthError::KeysUnavailable)?;
        if !response.status().is_success() {
            return Err(AuthError::KeysUnavailable(
                format!("JWKS answered {}", response.status()).into(),
            ));
        }
        tracing::info!(url = %self.config.jwks_url, "JWKS fetched");
        serde_json::from_slice(response.body()).map_err(|e| AuthError::KeysUnavailable(Box::new(e)))
    }
}

/// Why a token was refused, in words for `error_description` (RFC 6750
/// §3): never the token, never a key.
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidSignature => "the signature does not verify".into(),
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidIssuer => "the token's issuer (iss) is not accepted".into(),
        ErrorKind::InvalidAudience => "the token's audience (aud) is not accepted".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
        ErrorKind::InvalidClaimFormat(claim) => format!("the token's {claim} claim is malformed"),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => {
            "the token's algorithm is not accepted (RS256, ES256 or EdDSA)".into()
        }
        ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => "the signing key is not usable".into(),
        _ => "not a well-formed JWT".into(),
    }
}

/// The one algorithm a JWK verifies: from its `alg` when it says, else from
/// its type (RSA → RS256, EC P-256 → ES256, OKP Ed25519 → EdDSA).
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
        _ => return None,
    };
    match jwk.common.key_algorithm.map(|a| a.to_string()) {
        Some(alg) if alg != format!("{by_type:?}") => None,
        _ => Some(by_type),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator(mode: AuthMode, claim: &str) -> Authenticator {
        let jwt = JwtConfig {
            jwks_url: String::new(),
            issuer: String::new(),
            audience: String::new(),
            user_claim: claim.into(),
            jwks_refresh: Duration::from_secs(300),
        };
        Authenticator::new(mode, &jwt).unwrap()
    }

    #[tokio::test]
    async fn header_mode_trusts_the_user_id_header_and_nothing_else() {
        let header = authenticator(AuthMode::Header, "sub");
        let sent = |value: &'static [u8]| Credentials {
            user_id_header: Some(value),
            ..Credentials::default()
        };
        assert_eq!(header.user(sent(b"alice")).await.unwrap().as_str(), "alice");
        assert!(matches!(
            header.user(sent(b"al\xffce")).await,
            Err(AuthError::InvalidUserId(_))
        ));
        assert!(matches!(
            header.user(sent(b"a b")).await,
            Err(AuthError::InvalidUserId(_))
        ));
        // A token or an authorizer's claims do not stand in for the header.
        let claims = HashMap::from([("sub".to_owned(), "alice".to_owned())]);
        let others = Credentials {
            user_id_header: None,
            authorization: Some(b"Bearer x.y.z"),
            authorizer_claims: Some(&claims),
        };
        assert!(matches!(header.user(others).await, Err(AuthError::Missing)));
    }

    #[tokio::test]
    async fn authorizer_mode_reads_the_configured_claim() {
        let claims = HashMap::from([
            ("sub".to_owned(), "alice".to_owned()),
            ("email".to_owned(), "alice@example.com".to_owned()),
            ("name".to_owned(), "a b".to_owned()),
        ]);
        let sent = Credentials {
            user_id_header: Some(b"mallory"),
            authorization: None,
            authorizer_claims: Some(&claims),
        };
        let user =
            |claim| async move { authenticator(AuthMode::Authorizer, claim).user(sent).await };
        assert_eq!(user("sub").await.unwrap().as_str(), "alice");
        assert_eq!(user("email").await.unwrap().as_str(), "alice@example.com");
        // A claim the token lacks, or one that is not a user id: refused.
        assert!(matches!(
            user("username").await,
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            user("name").await,
            Err(AuthError::InvalidToken(_))
        ));
        // No authorizer in front (a misconfigured route): no identity, and
        // X-User-ID is never a fallback.
        let plain = Credentials {
            authorizer_claims: None,
            ..sent
        };
        assert!(matches!(
            authenticator(AuthMode::Authorizer, "sub").user(plain).await,
            Err(AuthError::Missing)
        ));
    }

    #[test]
    fn a_bearer_token_is_the_authorization_headers_second_word() {
        assert_eq!(bearer_token(Some(b"Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(Some(b"bearer  abc ")).unwrap(), "abc");
        assert!(matches!(bearer_token(None), Err(AuthError::Missing)));
        for refused in [&b"Basic abc"[..], b"Bearer", b"Bearer  ", b"Bearer \xff"] {
            assert!(
                matches!(bearer_token(Some(refused)), Err(AuthError::InvalidToken(_))),
                "{refused:?}"
            );
        }
    }
}
