//! Identity: who is acting (contract, "Identity"), decided in one place for
//! every mode, so nothing below the [`crate::http::ActingUser`] extractor
//! knows which (`AUTH_MODE`, README "Security"):
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

use http::request::Parts;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::RwLock;

use crate::config::{AuthMode, JwtConfig};
use crate::domain::UserId;
use crate::http_client::HttpsClient;

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
    KeysUnavailable(#[source] crate::http_client::BoxError),
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

    /// The user a request acts for.
    ///
    /// # Errors
    /// [`AuthError`].
    pub async fn user(&self, parts: &Parts) -> Result<UserId, AuthError> {
        match self.mode {
            AuthMode::Header => {
                let value = parts
                    .headers
                    .get(crate::http::USER_ID_HEADER)
                    .ok_or(AuthError::Missing)?;
                let raw = value
                    .to_str()
                    .map_err(|_| AuthError::InvalidUserId("user id must be ASCII".into()))?;
                UserId::parse(raw).map_err(|e| AuthError::InvalidUserId(e.to_string()))
            }
            AuthMode::Jwt => {
                let token = bearer_token(&parts.headers)?;
                let verifier = self.jwt.as_ref().expect("jwt mode has a verifier");
                let claims = verifier.verify(token).await?;
                user_from_claim(
                    claims.get(&self.user_claim).and_then(|v| v.as_str()),
                    &self.user_claim,
                )
            }
            AuthMode::Authorizer => {
                let claims = authorizer_claims(parts).ok_or(AuthError::Missing)?;
                user_from_claim(
                    claims.get(&self.user_claim).map(String::as_str),
                    &self.user_claim,
                )
            }
        }
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer_token(headers: &http::HeaderMap) -> Result<&str, AuthError> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::InvalidToken("the Authorization header is not ASCII".into()))?;
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

/// The claims of the HTTP API's JWT authorizer in a Lambda request's
/// context (`requestContext.authorizer.jwt.claims`).
fn authorizer_claims(parts: &Parts) -> Option<&HashMap<String, String>> {
    match parts
        .extensions
        .get::<lambda_http::request::RequestContext>()?
    {
        lambda_http::request::RequestContext::ApiGatewayV2(cx) => {
            cx.authorizer.as_ref()?.jwt.as_ref().map(|jwt| &jwt.claims)
        }
        _ => None,
    }
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

    /// An HTTP API (payload 2.0) event as API Gateway hands it to the
    /// function after its JWT authorizer accepted the token.
    fn api_gateway_event(
        claims: serde_json::Value,
        headers: serde_json::Value,
    ) -> http::request::Parts {
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": "POST /api/v1/avatars/uploads",
            "rawPath": "/api/v1/avatars/uploads",
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api",
                "authorizer": {"jwt": {"claims": claims, "scopes": null}},
                "domainName": "api.example.com",
                "domainPrefix": "api",
                "http": {"method": "POST", "path": "/api/v1/avatars/uploads", "protocol": "HTTP/1.1",
                         "sourceIp": "192.0.2.1", "userAgent": "test"},
                "requestId": "id",
                "routeKey": "POST /api/v1/avatars/uploads",
                "stage": "$default",
                "time": "03/Dec/2026:10:00:00 +0000",
                "timeEpoch": 1796292000000_i64
            },
            "isBase64Encoded": false
        });
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        request.into_parts().0
    }

    fn authorizer(claim: &str) -> Authenticator {
        let jwt = JwtConfig {
            jwks_url: String::new(),
            issuer: String::new(),
            audience: String::new(),
            user_claim: claim.into(),
            jwks_refresh: Duration::from_secs(300),
        };
        Authenticator::new(AuthMode::Authorizer, &jwt).unwrap()
    }

    #[tokio::test]
    async fn authorizer_mode_reads_the_user_from_api_gateways_claims() {
        let parts = api_gateway_event(
            serde_json::json!({"sub": "alice", "email": "alice@example.com"}),
            serde_json::json!({"x-user-id": "mallory"}),
        );
        assert_eq!(
            authorizer("sub").user(&parts).await.unwrap().as_str(),
            "alice"
        );
        assert_eq!(
            authorizer("email").user(&parts).await.unwrap().as_str(),
            "alice@example.com"
        );
        // A claim the token lacks, or one that is not a user id: refused.
        assert!(matches!(
            authorizer("username").user(&parts).await,
            Err(AuthError::InvalidToken(_))
        ));
        let bad = api_gateway_event(serde_json::json!({"sub": "a b"}), serde_json::json!({}));
        assert!(matches!(
            authorizer("sub").user(&bad).await,
            Err(AuthError::InvalidToken(_))
        ));
        // No authorizer in front (a misconfigured route): no identity, and
        // X-User-ID is never a fallback.
        let plain = http::Request::post("/api/v1/avatars/uploads")
            .header("x-user-id", "mallory")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert!(matches!(
            authorizer("sub").user(&plain).await,
            Err(AuthError::Missing)
        ));
    }
}
