//! Extractors: what a handler needs from a request, parsed once, with the
//! contract's errors as rejections.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{header, Uri};

use crate::error::ApiError;
use avatar_adapters::config::AuthMode;
use avatar_adapters::db::AvatarRow;
use avatar_domain::{AvatarId, UserId};
use avatar_usecases::app::AppState;
use avatar_usecases::auth::{AuthError, Credentials};

/// Header carrying the acting user (contract, "Identity").
pub const USER_ID_HEADER: &str = "x-user-id";

/// Parses a user id from a path segment or header value (400 on failure).
///
/// # Errors
/// [`ApiError::InvalidUserId`].
pub fn parse_user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|e| ApiError::InvalidUserId(e.to_string()))
}

/// The acting user ([`avatar_usecases::auth`]: `X-User-ID` in `header` mode, a
/// verified bearer token in `jwt` mode, the authorizer's claims in
/// `authorizer` mode). 401 when absent or not acceptable (with
/// `WWW-Authenticate: Bearer` in the token modes), 400 for a malformed
/// `X-User-ID`, 503 when the token's keys cannot be fetched.
#[derive(Debug, Clone)]
pub struct ActingUser(pub UserId);

impl ActingUser {
    /// The acting user of a request's `parts`, as the extractor finds it.
    ///
    /// # Errors
    /// As the extractor.
    pub async fn of(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        let headers = &parts.headers;
        let credentials = Credentials {
            user_id_header: headers.get(USER_ID_HEADER).map(|v| v.as_bytes()),
            authorization: headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
            authorizer_claims: authorizer_claims(parts),
        };
        state
            .auth
            .user(credentials)
            .await
            .map(Self)
            .map_err(|e| match e {
                AuthError::Missing if state.auth.mode() == AuthMode::Header => {
                    ApiError::Unauthorized
                }
                AuthError::Missing => ApiError::BearerRequired,
                AuthError::InvalidUserId(details) => ApiError::InvalidUserId(details),
                AuthError::InvalidToken(details) => ApiError::InvalidToken(details),
                e @ AuthError::KeysUnavailable(_) => ApiError::Unavailable(Box::new(e)),
            })
    }
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

impl FromRequestParts<Arc<AppState>> for ActingUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Self::of(parts, state).await
    }
}

/// The avatar named by the route's one path parameter (`{avatar_id}`),
/// loaded and visible ([`AvatarRow::is_visible`]): 404 when the id is not a
/// UUID (such an avatar cannot exist), unknown, soft-deleted or a direct
/// upload not yet received; 503 when the database is unavailable.
#[derive(Debug, Clone)]
pub struct VisibleAvatar(pub AvatarRow);

impl FromRequestParts<Arc<AppState>> for VisibleAvatar {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("Bad request", e.body_text()))?;
        let id = AvatarId::parse(&raw).ok_or(ApiError::AvatarNotFound)?;
        tracing::Span::current().record("avatar_id", tracing::field::display(id));
        let avatar = state
            .db
            .visible_avatar(id)
            .await?
            .ok_or(ApiError::AvatarNotFound)?;
        Ok(Self(avatar))
    }
}

/// The query string as a map; 400 JSON (not axum's plain-text rejection)
/// when it does not parse.
///
/// # Errors
/// [`ApiError::BadRequest`].
pub fn query_map(uri: &Uri) -> Result<HashMap<String, String>, ApiError> {
    Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| ApiError::bad_request("Invalid query", e.body_text()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An HTTP API (payload 2.0) event as API Gateway hands it to the
    /// function after its JWT authorizer accepted the token.
    fn api_gateway_event(claims: serde_json::Value) -> Parts {
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": "POST /api/v1/avatars/uploads",
            "rawPath": "/api/v1/avatars/uploads",
            "rawQueryString": "",
            "headers": {"x-user-id": "mallory"},
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

    #[test]
    fn the_authorizers_claims_come_from_the_lambda_request_context() {
        let parts =
            api_gateway_event(serde_json::json!({"sub": "alice", "email": "a@example.com"}));
        let claims = authorizer_claims(&parts).unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["email"], "a@example.com");
        // A request that did not come through the authorizer has none.
        let plain = axum::http::Request::post("/api/v1/avatars/uploads")
            .header("x-user-id", "mallory")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert!(authorizer_claims(&plain).is_none());
    }
}
