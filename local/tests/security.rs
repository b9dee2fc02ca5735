//! Safe on a public gateway: JWT identity (the whole 401 matrix, with key
//! pairs and a JWKS made here and served on loopback), the per-user rate
//! limit across two instances sharing one database, the quota, 500 versus
//! 503, CORS, and early answers reaching a client that is still sending.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use avatar_adapters::config::{AuthMode, JwtConfig};
use common::{small_png, TestApp};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "avatars";

/// One signing key of the test's JWKS.
struct Key {
    kid: &'static str,
    alg: Algorithm,
    encoding: EncodingKey,
    public_pem: String,
    /// The raw public key (Ed25519: the 32 bytes a JWK's `x` carries).
    public_raw: Vec<u8>,
}

fn key(kid: &'static str, alg: Algorithm) -> Key {
    let algorithm = match alg {
        Algorithm::RS256 => &rcgen::PKCS_RSA_SHA256,
        Algorithm::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        Algorithm::EdDSA => &rcgen::PKCS_ED25519,
        other => panic!("no test key for {other:?}"),
    };
    let pair = rcgen::KeyPair::generate_for(algorithm).unwrap();
    let pem = pair.serialize_pem();
    let encoding = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        _ => EncodingKey::from_ed_pem(pem.as_bytes()),
    }
    .unwrap();
    Key {
        kid,
        alg,
        encoding,
        public_pem: pair.public_key_pem(),
        public_raw: pair.public_key_raw().to_vec(),
    }
}

fn jwk(k: &Key) -> Jwk {
    if k.alg == Algorithm::EdDSA {
        // jsonwebtoken derives a JWK from PKCS#8 v1 only; rcgen writes v2.
        return serde_json::from_value(json!({
            "kty": "OKP", "crv": "Ed25519", "x": b64(&k.public_raw),
            "kid": k.kid, "alg": "EdDSA", "use": "sig",
        }))
        .unwrap();
    }
    let mut jwk = Jwk::from_encoding_key(&k.encoding, k.alg).unwrap();
    jwk.common.key_id = Some(k.kid.to_owned());
    jwk.common.key_algorithm = Some(match k.alg {
        Algorithm::RS256 => KeyAlgorithm::RS256,
        Algorithm::ES256 => KeyAlgorithm::ES256,
        _ => KeyAlgorithm::EdDSA,
    });
    jwk
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(sub: &str) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now(), "exp": now() + 300})
}

fn sign(k: &Key, claims: &Value) -> String {
    let mut header = Header::new(k.alg);
    header.kid = Some(k.kid.to_owned());
    jsonwebtoken::encode(&header, claims, &k.encoding).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWKS served on loopback, whose keys the test may change; counts its
/// fetches.
struct Jwks {
    url: String,
    fetches: Arc<AtomicUsize>,
    body: Arc<std::sync::Mutex<String>>,
}

impl Jwks {
    fn set(&self, keys: &[&Key]) {
        let set = JwkSet {
            keys: keys.iter().map(|k| jwk(k)).collect(),
        };
        *self.body.lock().unwrap() = serde_json::to_string(&set).unwrap();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn jwks_server(keys: &[&Key]) -> Jwks {
    let fetches = Arc::new(AtomicUsize::new(0));
    let body = Arc::new(std::sync::Mutex::new(String::new()));
    let (counter, served) = (fetches.clone(), body.clone());
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = served.lock().unwrap().clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let jwks = Jwks { url, fetches, body };
    jwks.set(keys);
    jwks
}

async fn jwt_app(jwks_url: String) -> TestApp {
    jwt_app_refreshing(jwks_url, Duration::from_secs(60)).await
}

async fn jwt_app_refreshing(jwks_url: String, jwks_refresh: Duration) -> TestApp {
    TestApp::spawn_with(|c| {
        c.auth_mode = AuthMode::Jwt;
        c.jwt = JwtConfig {
            jwks_url,
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            user_claim: "sub".into(),
            jwks_refresh,
        };
    })
    .await
}

/// `POST /api/v1/avatars/uploads` (cheap: no file) with these headers.
async fn direct_upload(app: &TestApp, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url("/api/v1/avatars/uploads"))
        .json(&json!({"content_type": "image/png", "content_length": 100}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// One row of the 401 matrix: its name, the request's headers, the status.
type Case = (&'static str, Vec<(&'static str, String)>, u16);

#[tokio::test]
async fn the_401_matrix_of_jwt_mode() {
    let rsa = key("rsa-1", Algorithm::RS256);
    let ec = key("ec-1", Algorithm::ES256);
    let ed = key("ed-1", Algorithm::EdDSA);
    let jwks = jwks_server(&[&rsa, &ec, &ed]).await;
    let app = jwt_app(jwks.url.clone()).await;
    let stranger = key("rsa-1", Algorithm::RS256); // same kid, another key

    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#),
        b64(claims("mallory").to_string().as_bytes())
    );
    let hs256_with_public_key = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        jsonwebtoken::encode(
            &header,
            &claims("mallory"),
            &EncodingKey::from_secret(rsa.public_pem.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims("alice");
        change(&mut c);
        sign(&rsa, &c)
    };
    let bearer = |t: &str| format!("Bearer {t}");
    let matrix: Vec<Case> = vec![
        (
            "RS256, valid",
            vec![("authorization", bearer(&sign(&rsa, &claims("alice"))))],
            201,
        ),
        (
            "ES256, valid",
            vec![("authorization", bearer(&sign(&ec, &claims("alice"))))],
            201,
        ),
        (
            "EdDSA, valid",
            vec![("authorization", bearer(&sign(&ed, &claims("alice"))))],
            201,
        ),
        ("no credentials", vec![], 401),
        (
            "X-User-ID only (ignored)",
            vec![("x-user-id", "alice".into())],
            401,
        ),
        (
            "Basic, not Bearer",
            vec![("authorization", "Basic YWxpY2U6eA==".into())],
            401,
        ),
        (
            "Bearer without a token",
            vec![("authorization", "Bearer ".into())],
            401,
        ),
        (
            "not a JWT",
            vec![("authorization", bearer("not.a.jwt"))],
            401,
        ),
        ("alg none", vec![("authorization", bearer(&alg_none))], 401),
        (
            "HS256 with the public key as secret",
            vec![("authorization", bearer(&hs256_with_public_key))],
            401,
        ),
        (
            "signed by another key",
            vec![("authorization", bearer(&sign(&stranger, &claims("alice"))))],
            401,
        ),
        (
            "wrong iss",
            vec![(
                "authorization",
                bearer(&with(&|c| c["iss"] = "https://evil.test".into())),
            )],
            401,
        ),
        (
            "wrong aud",
            vec![(
                "authorization",
                bearer(&with(&|c| c["aud"] = "elsewhere".into())),
            )],
            401,
        ),
        (
            "expired",
            vec![(
                "authorization",
                bearer(&with(&|c| c["exp"] = (now() - 120).into())),
            )],
            401,
        ),
        (
            "not yet valid (nbf)",
            vec![(
                "authorization",
                bearer(&with(&|c| c["nbf"] = (now() + 120).into())),
            )],
            401,
        ),
        (
            "no exp",
            vec![(
                "authorization",
                bearer(&with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                })),
            )],
            401,
        ),
        (
            "unknown kid",
            vec![(
                "authorization",
                bearer(&{
                    let mut header = Header::new(Algorithm::RS256);
                    header.kid = Some("rsa-9".into());
                    jsonwebtoken::encode(&header, &claims("alice"), &rsa.encoding).unwrap()
                }),
            )],
            401,
        ),
        (
            "sub not a user id",
            vec![("authorization", bearer(&sign(&rsa, &claims("a b"))))],
            401,
        ),
        (
            "no sub",
            vec![(
                "authorization",
                bearer(&with(&|c| {
                    c.as_object_mut().unwrap().remove("sub");
                })),
            )],
            401,
        ),
    ];
    println!("| case | status | WWW-Authenticate |\n|---|---|---|");
    for (case, headers, want) in &matrix {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = direct_upload(&app, &headers).await;
        let status = res.status().as_u16();
        let challenge = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body: Value = res.json().await.unwrap();
        println!("| {case} | {status} | {challenge} |");
        assert_eq!(status, *want, "{case}: {body}");
        if *want == 401 {
            assert_eq!(body["error"], "Unauthorized", "{case}");
            assert!(
                challenge.starts_with("Bearer realm=\"avatars\""),
                "{case}: {challenge}"
            );
            let expects_error = !matches!(*case, "no credentials" | "X-User-ID only (ignored)");
            assert_eq!(
                challenge.contains("error=\"invalid_token\""),
                expects_error,
                "{case}: {challenge}"
            );
        }
    }
    // One fetch of the JWKS served every key and every unknown kid within
    // JWT_JWKS_REFRESH_SECONDS.
    assert_eq!(jwks.fetches(), 1);

    // The token says who acts, whatever X-User-ID claims.
    let token = sign(&rsa, &claims("alice"));
    let res = app
        .http
        .post(app.url("/api/v1/avatars"))
        .header("authorization", format!("Bearer {token}"))
        .header("x-user-id", "bob")
        .multipart(reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(small_png(40, 30)).file_name("a.png"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user_id"], "alice");
    // Reads stay public; deletes need the owner's token.
    let id = body["id"].as_str().unwrap();
    assert_eq!(app.metadata(id).await.status(), 200);
    let res = app
        .http
        .delete(app.url(&format!("/api/v1/avatars/{id}")))
        .header(
            "authorization",
            format!("Bearer {}", sign(&ec, &claims("bob"))),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = app
        .http
        .delete(app.url(&format!("/api/v1/avatars/{id}")))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_per_refresh_interval() {
    let old = key("old", Algorithm::RS256);
    let new = key("new", Algorithm::ES256);
    let jwks = jwks_server(&[&old]).await;
    let app = jwt_app_refreshing(jwks.url.clone(), Duration::from_secs(2)).await;
    let auth = |k: &Key| format!("Bearer {}", sign(k, &claims("alice")));
    assert_eq!(
        direct_upload(&app, &[("authorization", &auth(&old))])
            .await
            .status(),
        201
    );
    assert_eq!(jwks.fetches(), 1);
    // The issuer rotates: tokens of the new key arrive before the refresh
    // interval has passed. They are refused, and the JWKS is not asked
    // again however many come (no refetch storm from forged kids).
    jwks.set(&[&old, &new]);
    for _ in 0..3 {
        assert_eq!(
            direct_upload(&app, &[("authorization", &auth(&new))])
                .await
                .status(),
            401
        );
    }
    assert_eq!(jwks.fetches(), 1);
    // After it, one unknown kid refetches once, and the new key works.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        direct_upload(&app, &[("authorization", &auth(&new))])
            .await
            .status(),
        201
    );
    assert_eq!(
        direct_upload(&app, &[("authorization", &auth(&new))])
            .await
            .status(),
        201
    );
    assert_eq!(jwks.fetches(), 2);
    app.stop().await;
}

#[tokio::test]
async fn keys_that_cannot_be_fetched_are_503_not_401() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", closed.local_addr().unwrap());
    drop(closed);
    let app = jwt_app(url).await;
    let rsa = key("rsa-1", Algorithm::RS256);
    let token = sign(&rsa, &claims("alice"));
    let res = direct_upload(&app, &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    app.stop().await;
}

/// Sleeps into the next clock minute when this one has less than 15 s
/// left, so a rate-limit test counts within one minute.
async fn away_from_a_minute_boundary() {
    let second = now() % 60;
    if second > 45 {
        tokio::time::sleep(Duration::from_secs((61 - second) as u64)).await;
    }
}

#[tokio::test]
async fn the_upload_rate_holds_across_two_instances_sharing_a_database() {
    let first = TestApp::spawn_with(|c| c.uploads_per_user_per_minute = 3).await;
    let shared = first.config.clone();
    let second = TestApp::spawn_with(|c| *c = shared.clone()).await;
    away_from_a_minute_boundary().await;
    let user = [("x-user-id", "rita")];
    for (i, app) in [&first, &second, &first].into_iter().enumerate() {
        assert_eq!(direct_upload(app, &user).await.status(), 201, "upload {i}");
    }
    for app in [&second, &first] {
        let res = direct_upload(app, &user).await;
        assert_eq!(res.status(), 429);
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "Rate limited");
        assert_eq!(body["retry_after"], retry);
    }
    // The multipart upload is limited the same way; another user is not.
    assert_eq!(
        first
            .upload("rita", "a.png", small_png(20, 20))
            .await
            .status(),
        429
    );
    assert_eq!(
        second
            .upload("sam", "a.png", small_png(20, 20))
            .await
            .status(),
        201
    );
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn the_quota_counts_kept_avatars() {
    let app = TestApp::spawn_with(|c| c.max_avatars_per_user = 2).await;
    let a = app.upload_ok("quinn", "a.png", small_png(20, 20)).await;
    app.upload_ok("quinn", "b.png", small_png(20, 20)).await;
    let res = app.upload("quinn", "c.png", small_png(20, 20)).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "Too many avatars", "max_avatars": 2,
        "details": "a user keeps at most 2 avatars; delete one first"})
    );
    let id = a["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/avatars/{id}"), Some("quinn"))
            .await
            .status(),
        204
    );
    app.upload_ok("quinn", "c.png", small_png(20, 20)).await;
    app.stop().await;
}

#[tokio::test]
async fn a_broken_statement_is_500_and_an_unreachable_database_503() {
    let app = TestApp::spawn().await;
    // A constraint every new row violates: an SQL error, not an outage.
    let (client, conn) = tokio_postgres::connect(&app.config.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute("ALTER TABLE avatars ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
        .await
        .unwrap();
    let res = app.upload("ulla", "a.png", small_png(20, 20)).await;
    assert_eq!(res.status(), 500);
    assert!(!res.headers().contains_key("retry-after"));
    let body = res.text().await.unwrap();
    assert_eq!(
        body, r#"{"error":"Internal server error"}"#,
        "no SQL reaches the client"
    );
    assert!(app.keys("").await.is_empty(), "nothing stored");
    client
        .batch_execute("ALTER TABLE avatars DROP CONSTRAINT refuse_all")
        .await
        .unwrap();

    // The same upload against a database that does not answer: 503.
    let mut config = app.config.clone();
    config.database_url = "postgres://postgres@127.0.0.1:1/avatars".into();
    let state = avatar_usecases::AppState::new(config).await.unwrap();
    let router = avatar_http::service(avatar_upload::routes(), state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let res = app
        .http
        .post(format!("{base}/api/v1/avatars/uploads"))
        .header("x-user-id", "ulla")
        .json(&json!({"content_type": "image/png", "content_length": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    app.stop().await;
}

/// The upload function alone on `state`, on a free port; its base URL.
async fn upload_function(state: std::sync::Arc<avatar_usecases::AppState>) -> String {
    let router = avatar_http::service(avatar_upload::routes(), state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

#[tokio::test]
async fn a_missing_bucket_is_500_and_unreachable_storage_503() {
    let app = TestApp::spawn().await;
    let upload = |base: String| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(small_png(20, 20)).file_name("a.png"),
        );
        app.http
            .post(format!("{base}/api/v1/avatars"))
            .header("x-user-id", "vera")
            .multipart(form)
            .send()
    };
    // A bucket that does not exist: the deployment's fault, not an outage.
    let mut config = app.config.clone();
    config.bucket = format!("{}-missing", app.config.bucket);
    let state = avatar_usecases::AppState::new(config).await.unwrap();
    let res = upload(upload_function(state).await).await.unwrap();
    assert_eq!(res.status(), 500);
    assert!(!res.headers().contains_key("retry-after"));
    assert_eq!(
        res.text().await.unwrap(),
        r#"{"error":"Internal server error"}"#
    );

    // Storage that does not answer (an S3 client on a closed port): 503,
    // retry later.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    let mut state = (*app.stack.state).clone();
    state.storage = avatar_adapters::storage::Storage::new(
        aws_sdk_s3::Client::from_conf(s3),
        app.config.bucket.clone(),
    );
    let res = upload(upload_function(std::sync::Arc::new(state)).await)
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    // Neither left a row behind.
    let list = app
        .get("/api/v1/users/vera/avatars")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(list["items"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn cors_preflight_and_exposed_headers_for_allowed_origins_only() {
    let app =
        TestApp::spawn_with(|c| c.cors_allowed_origins = vec!["https://app.example".into()]).await;
    let res = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/avatars"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, x-user-id, idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for name in ["authorization", "x-user-id", "idempotency-key"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    let body = app.upload_ok("cora", "a.png", small_png(20, 20)).await;
    let id = body["id"].as_str().unwrap();
    let res = app
        .http
        .get(app.url(&format!("/api/v1/avatars/{id}/metadata")))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("etag"));
    let res = app
        .http
        .get(app.url(&format!("/api/v1/avatars/{id}/metadata")))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    app.stop().await;

    let plain = TestApp::spawn().await;
    let res = plain
        .http
        .get(plain.url("/health"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    plain.stop().await;
}

/// Sends a request whose body is `body_len` bytes, in chunks, while
/// reading the answer: the status, and whether all of the body went out.
async fn send_while_answered(base: &str, headers: &str, body_len: usize) -> (u16, bool) {
    let addr = base.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST /api/v1/avatars HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {body_len}\r\n\r\n"
    );
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0;
        while sent < body_len {
            let n = chunk.len().min(body_len - sent);
            write.write_all(&chunk[..n]).await?;
            sent += n;
        }
        write.flush().await?;
        Ok::<_, std::io::Error>(())
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match read.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading the answer: {e} (after {} bytes)", answer.len()),
        }
        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let all_sent = writer.await.unwrap().is_ok();
    (status, all_sent)
}

#[tokio::test]
async fn early_answers_reach_a_client_that_is_still_sending() {
    let app = TestApp::spawn().await;
    let max = app.config.max_upload_bytes as usize;
    for round in 0..5 {
        for (headers, len, want) in [
            ("", 4 << 20, 401),
            ("X-User-ID: not a user\r\n", 4 << 20, 400),
            ("X-User-ID: lena\r\n", max + (1 << 20), 413),
        ] {
            let (status, all_sent) = send_while_answered(&app.base, headers, len).await;
            assert_eq!(status, want, "round {round}, {headers:?}");
            assert!(
                all_sent,
                "round {round}: the connection was reset while sending ({want})"
            );
        }
    }
    assert_eq!(app.get("/health").await.status(), 200);
    app.stop().await;
}
