//! `TestApp`: the whole service on a free port against the real PostgreSQL
//! and S3/SQS emulator that `make test` started, isolated per test (own
//! database, bucket and queues), with helpers that speak the HTTP API.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::{Duration, Instant};

use avatar_adapters::Config;
use avatar_local::stack::{Options, Stack};
use reqwest::multipart::{Form, Part};
use reqwest::Response;
use serde_json::Value;

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub config: Config,
    pub stack: Stack,
}

/// A test image (`fixtures/images`, or `$CORPUS_DIR`), and their directory.
#[allow(unused_imports)] // each test binary uses a different subset
pub use avatar_pipeline::testing::{fixture as corpus, fixtures_dir as corpus_dir};

pub struct Expected {
    pub name: String,
    /// Displayed (EXIF-oriented) dimensions.
    pub width: u32,
    pub height: u32,
    pub orientation: u8,
}

/// Reads `corpus.tsv`: file, dimensions, EXIF orientation.
pub fn corpus_table() -> Vec<Expected> {
    let tsv = std::fs::read_to_string(corpus_dir().join("corpus.tsv")).unwrap();
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (file, w, h, o) = (
        col("file"),
        col("width"),
        col("height"),
        col("exif_orientation"),
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let (sw, sh): (u32, u32) = (f[w].parse().unwrap(), f[h].parse().unwrap());
            let orientation: u8 = f[o].parse().unwrap();
            let (width, height) = if orientation >= 5 { (sh, sw) } else { (sw, sh) };
            Expected {
                name: f[file].to_owned(),
                width,
                height,
                orientation,
            }
        })
        .collect()
}

/// The `corpus.tsv` row of one test image.
pub fn expected(name: &str) -> Expected {
    corpus_table()
        .into_iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("{name} is not in corpus.tsv"))
}

/// `target/<profile>/<name>`: a binary of the workspace, built by `cargo
/// nextest run --workspace` / `cargo test --workspace` along with the tests.
pub fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not built (run the workspace's tests)",
        path.display()
    );
    path
}

/// A free TCP port on 127.0.0.1.
/// The `size` of each entry of a metadata document's `thumbnails`.
pub fn thumbnail_sizes(meta: &Value) -> Vec<&str> {
    meta["thumbnails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["size"].as_str().unwrap())
        .collect()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A small real PNG of `w`×`h`.
pub fn small_png(w: u32, h: u32) -> Vec<u8> {
    png(&image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 5) as u8, 90])
    }))
}

/// `img` encoded as PNG.
pub fn png(img: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let server = base.rsplit_once('/').map(|(s, _)| s).unwrap_or(base);
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a stack; `adjust` may change the isolated configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            avatar_telemetry::init(avatar_telemetry::Process::Local);
        }
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
        let mut config = Config::from_env().expect("configuration");
        config.database_url =
            with_database(&config.database_url, &format!("avatars_test_{suffix}"));
        config.bucket = format!("test-{suffix}");
        config.web_bucket = format!("web-{suffix}");
        config.upload_queue = format!("uploads-{suffix}");
        config.delete_queue = format!("deletes-{suffix}");
        config.visibility_timeout = Duration::from_secs(1);
        config.max_receive_count = 2;
        config.orphan_grace = Duration::ZERO;
        config.s3_force_path_style = true;
        adjust(&mut config);
        Self::start(config).await
    }

    /// Starts a stack on `config` as it is (e.g. another stack's, to
    /// restart it with a changed setting on the same database and names).
    pub async fn start(config: Config) -> Self {
        let stack = Stack::start(
            config.clone(),
            "127.0.0.1:0".parse().unwrap(),
            Options::default(),
        )
        .await
        .expect("stack starts (is `make test`'s emulator running?)");
        Self {
            base: format!("http://{}", stack.addr),
            http: reqwest::Client::new(),
            config,
            stack,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn upload(&self, user: &str, name: &str, bytes: Vec<u8>) -> Response {
        self.upload_with(Some(user), name, bytes, None).await
    }

    pub async fn upload_with(
        &self,
        user: Option<&str>,
        name: &str,
        bytes: Vec<u8>,
        idempotency_key: Option<&str>,
    ) -> Response {
        let form = Form::new().part(
            "file",
            Part::bytes(bytes)
                .file_name(name.to_owned())
                .mime_str("application/octet-stream")
                .unwrap(),
        );
        let mut req = self.http.post(self.url("/api/v1/avatars")).multipart(form);
        if let Some(u) = user {
            req = req.header("X-User-ID", u);
        }
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        req.send().await.expect("upload request")
    }

    /// Uploads and returns the 201 body.
    pub async fn upload_ok(&self, user: &str, name: &str, bytes: Vec<u8>) -> Value {
        let res = self.upload(user, name, bytes).await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 201, "upload of {name}: {body}");
        body
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn metadata(&self, id: &str) -> Response {
        self.get(&format!("/api/v1/avatars/{id}/metadata")).await
    }

    /// Polls metadata until `status` (panics after `timeout`).
    pub async fn wait_for_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let res = self.metadata(id).await;
            if res.status() == 200 {
                let body: Value = res.json().await.unwrap();
                if body["status"] == status {
                    return body;
                }
                assert!(
                    start.elapsed() < timeout,
                    "avatar {id} not {status} after {timeout:?}: {body}"
                );
            } else {
                assert!(
                    start.elapsed() < timeout,
                    "metadata of {id}: {}",
                    res.status()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn delete(&self, path: &str, user: Option<&str>) -> Response {
        let mut req = self.http.delete(self.url(path));
        if let Some(u) = user {
            req = req.header("X-User-ID", u);
        }
        req.send().await.unwrap()
    }

    /// Every key in the test's bucket under `prefix`.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        self.stack
            .state
            .storage
            .list(prefix)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect()
    }

    /// Keys of one avatar (originals and variants).
    pub async fn keys_of(&self, avatar_id: &str) -> Vec<String> {
        let mut keys = self.keys("").await;
        keys.retain(|k| k.contains(avatar_id));
        keys
    }

    /// Waits until the avatar has no object left (purge is asynchronous).
    pub async fn wait_until_purged(&self, avatar_id: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            let left = self.keys_of(avatar_id).await;
            if left.is_empty() {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "objects left for {avatar_id}: {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Approximate number of messages waiting in the upload queue's
    /// dead-letter queue.
    pub async fn upload_dlq_depth(&self) -> u64 {
        let dlq = self.stack.state.upload_queue.dead_letter_queue();
        dlq.depth().await.unwrap()
    }

    pub async fn stop(self) {
        self.stack.stop().await;
    }
}

/// `POST /api/v1/avatars/uploads` with `body`: the status and the JSON answer.
pub async fn create_direct_upload(app: &TestApp, user: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url("/api/v1/avatars/uploads"))
        .json(&body);
    if let Some(u) = user {
        req = req.header("X-User-ID", u);
    }
    let res = req.send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

/// Sends `bytes` as the presigned request `upload` says; the storage's status.
pub async fn send_direct_upload(app: &TestApp, upload: &Value, bytes: Vec<u8>) -> u16 {
    assert_eq!(upload["method"], "PUT");
    let mut req = app.http.put(upload["url"].as_str().unwrap());
    for (k, v) in upload["headers"].as_object().unwrap() {
        req = req.header(k, v.as_str().unwrap());
    }
    req.body(bytes).send().await.unwrap().status().as_u16()
}
