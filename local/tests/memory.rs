//! Bounded memory: `avatar-local serve` — the upload function and the
//! thumbnail function's event source mapping, batches of ten rendered
//! concurrently as on Lambda — in a memory cgroup whose limit ten
//! concurrent decodes of the test's PNGs exceed. With the decode budget
//! taken from the cgroup's limit every upload becomes `ready` and nothing
//! is killed; with the budget lifted (`DECODE_MEMORY_MB` far above the
//! limit) the same run is killed, which shows the limit binds.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{binary, corpus, free_port};
use serde_json::Value;

/// The cgroup's memory limit, MiB: the service idles at ~30 MiB; ten
/// concurrent decodes and renders of the 2140×1200 RGBA PNG take well over
/// 200 MiB more.
const LIMIT_MIB: u64 = 160;

/// A memory cgroup of this test (cgroup v1 `memory` or v2), removed when
/// dropped.
struct Cgroup {
    dir: PathBuf,
    v1: bool,
}

impl Cgroup {
    /// A child of this process's own memory cgroup, limited to `limit_mib`
    /// of memory (and no swap).
    fn new(name: &str, limit_mib: u64) -> Self {
        let membership = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let (parent, v1) = membership
            .lines()
            .find_map(|line| {
                let mut f = line.splitn(3, ':');
                let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
                let path = path.trim_start_matches('/');
                if controllers.split(',').any(|c| c == "memory") {
                    Some((PathBuf::from("/sys/fs/cgroup/memory").join(path), true))
                } else if controllers.is_empty()
                    && std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
                {
                    Some((PathBuf::from("/sys/fs/cgroup").join(path), false))
                } else {
                    None
                }
            })
            .expect("a memory cgroup (v1 or v2) in /proc/self/cgroup");
        let dir = parent.join(name);
        std::fs::create_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "cannot make the cgroup {} ({e}): this test needs to create memory cgroups (root)",
                dir.display()
            )
        });
        let group = Self { dir, v1 };
        let bytes = (limit_mib << 20).to_string();
        if v1 {
            group.write("memory.limit_in_bytes", &bytes);
            if group.dir.join("memory.memsw.limit_in_bytes").exists() {
                group.write("memory.memsw.limit_in_bytes", &bytes);
            }
        } else {
            group.write("memory.max", &bytes);
            group.write("memory.swap.max", "0");
        }
        group
    }

    fn write(&self, file: &str, value: &str) {
        std::fs::write(self.dir.join(file), value)
            .unwrap_or_else(|e| panic!("{}/{file}: {e}", self.dir.display()));
    }

    /// The most memory the group's processes used, MiB.
    fn peak_mib(&self) -> u64 {
        let file = if self.v1 {
            "memory.max_usage_in_bytes"
        } else {
            "memory.peak"
        };
        let bytes: u64 = std::fs::read_to_string(self.dir.join(file))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        bytes >> 20
    }

    /// The kernel's OOM kills in the group (`None` where it does not say).
    fn oom_kills(&self) -> Option<u64> {
        let (file, key) = if self.v1 {
            ("memory.oom_control", "oom_kill ")
        } else {
            ("memory.events", "oom_kill ")
        };
        let text = std::fs::read_to_string(self.dir.join(file)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|n| n.trim().parse().ok())
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

struct Served {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `avatar-local serve` started inside `group` (it enters the cgroup
/// before `exec`, so every byte it allocates is counted), with its own
/// database, buckets and queues.
async fn serve_in(group: &Cgroup, extra: &[(&str, &str)]) -> Served {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let config = avatar_adapters::Config::from_env().unwrap();
    let (server, _) = config.database_url.rsplit_once('/').unwrap();
    let port = free_port();
    let log = std::env::temp_dir().join(format!("avatars-memory-{suffix}.log"));
    let procs = group.dir.join("cgroup.procs");
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"echo $$ > "$1" && exec "$2" serve"#)
        .arg("sh")
        .arg(&procs)
        .arg(binary("avatar-local"))
        .env(
            "DATABASE_URL",
            format!("{server}/avatars_test_mem_{suffix}"),
        )
        .env("AVATAR_BUCKET", format!("test-mem-{suffix}"))
        .env("WEB_BUCKET", format!("web-mem-{suffix}"))
        .env("UPLOAD_QUEUE", format!("uploads-mem-{suffix}"))
        .env("DELETE_QUEUE", format!("deletes-mem-{suffix}"))
        .env("GATEWAY_ADDR", format!("127.0.0.1:{port}"))
        .env("METRICS_ADDR", format!("127.0.0.1:{}", free_port()))
        // One batch of ten: the event source mapping waits for it.
        .env("BATCH_WINDOW_SECONDS", "20")
        .env("UPLOADS_PER_USER_PER_MINUTE", "0")
        .env("RUST_LOG", "info")
        .env_remove("DECODE_MEMORY_MB")
        .env_remove("DECODE_CONCURRENCY")
        .env_remove("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null());
    for (k, v) in extra {
        command.env(k, v);
    }
    let mut served = Served {
        child: command.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    let started = Instant::now();
    loop {
        if let Ok(res) = reqwest::get(format!("{}/health", served.base)).await {
            if res.status() == 200 {
                return served;
            }
        }
        assert!(
            served.child.try_wait().unwrap().is_none(),
            "avatar-local exited: {}",
            std::fs::read_to_string(&served.log).unwrap_or_default()
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "avatar-local did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How a run ended.
#[derive(Debug)]
struct Run {
    /// The service's "decode budget" log line.
    budget_line: String,
    ready: usize,
    killed: bool,
    peak_mib: u64,
}

/// Ten concurrent uploads of the RGBA PNG, then waits (at most `within`)
/// until all are `ready` or the process is gone.
async fn ten_pngs(group: &Cgroup, extra: &[(&str, &str)], within: Duration) -> Run {
    let mut served = serve_in(group, extra).await;
    let png = corpus("p10_art_arc_transparent.png");
    let http = reqwest::Client::new();
    let mut uploads = tokio::task::JoinSet::new();
    for i in 0..10 {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(png.clone()).file_name(format!("{i}.png")),
        );
        let request = http
            .post(format!("{}/api/v1/avatars", served.base))
            .header("x-user-id", "memory")
            .multipart(form);
        uploads.spawn(request.send());
    }
    let mut ids = Vec::new();
    while let Some(result) = uploads.join_next().await {
        match result.unwrap() {
            Ok(res) if res.status() == 201 => {
                ids.push(
                    res.json::<Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
            Ok(res) => panic!(
                "upload answered {}: {}",
                res.status(),
                res.text().await.unwrap()
            ),
            // The process died under the uploads' decodes.
            Err(_) => {}
        }
    }
    let started = Instant::now();
    let mut ready = 0;
    while served.child.try_wait().unwrap().is_none() && started.elapsed() < within {
        ready = 0;
        for id in &ids {
            let url = format!("{}/api/v1/avatars/{id}/metadata", served.base);
            if let Ok(res) = http.get(url).send().await {
                if let Ok(body) = res.json::<Value>().await {
                    assert_ne!(body["status"], "failed", "{body}");
                    ready += usize::from(body["status"] == "ready");
                }
            }
        }
        if ready == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let killed = served.child.try_wait().unwrap().is_some();
    let peak_mib = group.peak_mib();
    let log = std::fs::read_to_string(&served.log).unwrap_or_default();
    let budget_line = log
        .lines()
        .find(|l| l.contains("decode budget"))
        .unwrap_or_default();
    if killed {
        println!("killed; log tail: {}", tail(&served.log));
    }
    Run {
        budget_line: budget_line.to_owned(),
        ready,
        killed,
        peak_mib,
    }
}

fn tail(path: &PathBuf) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(3)..].join("\n")
}

#[tokio::test]
async fn ten_concurrent_decodes_fit_a_memory_limit_they_would_exceed() {
    let name = format!("avatars-memory-{}", std::process::id());

    let group = Cgroup::new(&format!("{name}-budget"), LIMIT_MIB);
    // Slots wide open in both runs: only the memory budget differs.
    let run = ten_pngs(
        &group,
        &[("DECODE_CONCURRENCY", "16")],
        Duration::from_secs(180),
    )
    .await;
    println!(
        "budget from the cgroup ({LIMIT_MIB} MiB limit): {} of 10 ready, killed: {}, peak {} MiB, OOM kills {:?}",
        run.ready,
        run.killed,
        run.peak_mib,
        group.oom_kills()
    );
    assert!(!run.killed, "killed under the limit with the decode budget");
    assert!(
        run.budget_line.contains(r#""from":"cgroup""#)
            && run
                .budget_line
                .contains(&format!(r#""budget_mib":{}"#, LIMIT_MIB * 6 / 10)),
        "the budget is not 60 % of the cgroup's limit: {}",
        run.budget_line
    );
    assert_eq!(run.ready, 10);
    assert_eq!(group.oom_kills().unwrap_or(0), 0);

    // The control: the same run without a budget that binds.
    let control = Cgroup::new(&format!("{name}-control"), LIMIT_MIB);
    let run = ten_pngs(
        &control,
        &[("DECODE_MEMORY_MB", "100000"), ("DECODE_CONCURRENCY", "16")],
        Duration::from_secs(180),
    )
    .await;
    println!(
        "no budget (DECODE_MEMORY_MB=100000, DECODE_CONCURRENCY=16, same limit): {} of 10 ready, killed: {}, peak {} MiB, OOM kills {:?}",
        run.ready,
        run.killed,
        run.peak_mib,
        control.oom_kills()
    );
    assert!(
        run.killed || run.ready < 10,
        "ten unbudgeted decodes fit in {LIMIT_MIB} MiB: the limit proves nothing; lower LIMIT_MIB"
    );
}
