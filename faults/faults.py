"""The fault suite (`make faults`): injected failures against the local
stack, each on a stack of its own, bounded in time, loopback only.

Every scenario starts its own PostgreSQL cluster (so it may restart or stop
it), its own moto (so it may freeze it) and its own `avatar-local serve`
(so it may kill it), uploads real photos from fixtures/images, injects one
fault, and then checks what the issue asks:

* every upload answered 201 ends `ready` (a transient outage must never
  turn a valid image `failed`), with its original and three variants
  stored;
* after a sweep (ORPHAN_GRACE_SECONDS=0) no object is left without its
  row, and no row without its original;
* no 500 was answered (a 503 with Retry-After while a dependency is down);
* /health is 200 again within seconds of the dependency's return.

Each prints its figures: attempted, 201, 503, 500, other, ready, failed,
lost, stuck, and how long /health took to recover. Scenarios:

  pg-restart        `pg_ctl restart -m fast` in the middle of a burst
  pg-down           PostgreSQL stopped for FAULTS_PG_DOWN_SECONDS (180)
                    right after a burst: longer than the whole retry budget
                    before exponential backoff (5 deliveries x 30 s)
  outlasting        an outage longer than every delivery (short backoff):
                    the messages end in the dead-letter queue and the
                    sweep's re-drive still makes the avatars ready
  s3-freeze         the S3 + SQS emulator frozen (SIGSTOP) for 10 s in the
                    middle of a burst
  worker-killed     avatar-local killed (SIGKILL) in the middle of a
                    thumbnail batch, then started again
  s3-latency-drops  200 ms of latency and 15 % of connections reset between
                    the functions and S3 (a fault-injecting TCP proxy)

Run with the moto venv's Python (it has boto3):
  .local/venv/bin/python faults/faults.py [scenario ...]
Environment: AVATAR_LOCAL (the binary; default target/debug/avatar-local),
FAULTS_PG_DOWN_SECONDS.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "images"
WORK = ROOT / ".local" / "faults"
BINARY = Path(
    os.environ.get("AVATAR_LOCAL")
    or Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "avatar-local"
)
MOTO = ROOT / ".local" / "venv" / "bin" / "moto_server"
PHOTOS = sorted(p for p in FIXTURES.iterdir() if p.suffix in {".jpg", ".png", ".webp"})
PRINT_LOCK = threading.Lock()


def say(scenario: str, text: str) -> None:
    with PRINT_LOCK:
        print(f"[faults:{scenario}] {text}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def is_root() -> bool:
    return os.geteuid() == 0


class Cluster:
    """A PostgreSQL cluster of the scenario's own, on a free port."""

    def __init__(self, name: str):
        self.bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]
        self.dir = Path(tempfile.mkdtemp(prefix=f"pg-{name}-", dir=WORK))
        self.port = free_port()
        if is_root():
            shutil.chown(self.dir, "postgres")
        self.run("initdb", "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust", "--no-sync")
        self.start()

    def run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if is_root():
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/avatars"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run("pg_ctl", "-D", str(self.dir / "data"), "-w", "-l", str(self.dir / "log"), "-o", options, "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "-o", options, "restart")

    def query(self, sql: str) -> list[list[str]]:
        out = subprocess.run(
            ["psql", self.url, "-Atqc", sql], check=True, capture_output=True, text=True
        ).stdout
        return [line.split("|") for line in out.splitlines() if line]

    def close(self) -> None:
        try:
            self.run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Moto:
    """The S3 + SQS emulator of the scenario's own."""

    def __init__(self, name: str):
        self.port = free_port()
        self.log = open(WORK / f"moto-{name}.log", "w")
        self.process = subprocess.Popen(
            [str(MOTO), "-H", "127.0.0.1", "-p", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT
        )
        ok = wait_for(lambda: http_status(f"{self.url}/moto-api/") == 200, 30)
        assert ok, "moto did not start"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.thaw()
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


class Proxy:
    """A fault-injecting TCP proxy to `target`: `latency` seconds on each
    chunk each way, and `drop_rate` of new connections reset at once."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.latency = 0.0
        self.drop_rate = 0.0
        self.dropped = 0
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        threading.Thread(target=self._serve, args=(started,), daemon=True).start()
        started.wait(10)

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", self.port))
        started.set()
        self.loop.run_forever()
        server.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                if self.latency:
                    await asyncio.sleep(self.latency)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if random.random() < self.drop_rate:
            self.dropped += 1
            writer.transport.abort()  # a reset, not a clean close
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


def http_status(url: str, timeout: float = 2) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, urllib.error.URLError):
        return 0


class Service:
    """`avatar-local serve` on the scenario's PostgreSQL and emulator."""

    def __init__(self, name: str, cluster: Cluster, moto: Moto, s3_url: str | None = None, **settings: str):
        self.name = name
        self.port = free_port()
        suffix = uuid.uuid4().hex[:10]
        self.bucket = f"faults-{suffix}"
        self.env = {
            **os.environ,
            "DATABASE_URL": cluster.url,
            "AWS_ENDPOINT_URL": moto.url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "S3_FORCE_PATH_STYLE": "true",
            "AVATAR_BUCKET": self.bucket,
            "WEB_BUCKET": f"faults-web-{suffix}",
            "UPLOAD_QUEUE": f"faults-uploads-{suffix}",
            "DELETE_QUEUE": f"faults-deletes-{suffix}",
            "GATEWAY_ADDR": f"127.0.0.1:{self.port}",
            "METRICS_ADDR": f"127.0.0.1:{free_port()}",
            "UPLOADS_PER_USER_PER_MINUTE": "0",
            # One user uploads every image of a scenario: keep them all, so
            # every 201 must end ready (no retention deletes).
            "KEEP_AVATARS_PER_USER": "0",
            "RUST_LOG": "info",
            **settings,
        }
        for inherited in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "AWS_ENDPOINT_URL_S3",
                          "AWS_ENDPOINT_URL_SQS", "DECODE_MEMORY_MB", "AUTH_MODE"):
            self.env.pop(inherited, None)
        if s3_url:
            # Only S3 goes through the proxy; SQS and the bucket's
            # notifications stay direct.
            self.env["AWS_ENDPOINT_URL_S3"] = s3_url
        self.log_path = WORK / f"service-{name}.log"
        self.process: subprocess.Popen | None = None
        self.s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing")
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.log_path, "a")
        self.process = subprocess.Popen([str(BINARY), "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        ok = wait_for(lambda: http_status(f"{self.url}/health") == 200, 60)
        assert ok, f"avatar-local did not become healthy (log: {self.log_path})"

    def kill(self) -> None:
        assert self.process
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def sweep(self) -> dict:
        env = {**self.env, "ORPHAN_GRACE_SECONDS": "0"}
        out = subprocess.run([str(BINARY), "sweep"], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    def keys(self) -> list[str]:
        keys, token = [], None
        while True:
            args = {"Bucket": self.bucket, **({"ContinuationToken": token} if token else {})}
            page = self.s3.list_objects_v2(**args)
            keys += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return keys
            token = page["NextContinuationToken"]

    def close(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def multipart(path: Path) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def upload(service: Service, path: Path, user: str) -> tuple[int, str | None, str | None]:
    """(status, avatar id, Retry-After); status 0 when no answer came."""
    body, content_type = multipart(path)
    request = urllib.request.Request(f"{service.url}/api/v1/avatars", data=body, method="POST",
                                     headers={"Content-Type": content_type, "X-User-ID": user})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())["id"], None
    except urllib.error.HTTPError as e:
        return e.code, None, e.headers.get("Retry-After")
    except (OSError, urllib.error.URLError):
        return 0, None, None


class Run:
    """The uploads of one scenario and what became of them."""

    def __init__(self, name: str, service: Service, cluster: Cluster):
        self.name, self.service, self.cluster = name, service, cluster
        self.answers: list[tuple[int, str | None, str | None]] = []
        self.recovery: float | None = None

    def burst(self, count: int, concurrency: int, pace: float = 0.0, during=None) -> None:
        """`count` uploads, `concurrency` at a time (`pace` seconds between
        starts); `during()` runs in the middle of the burst."""
        user = f"faults-{self.name}"
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            futures = []
            for i in range(count):
                if during and i == count // 2:
                    pool.submit(during)
                futures.append(pool.submit(upload, self.service, PHOTOS[i % len(PHOTOS)], user))
                time.sleep(pace)
            self.answers += [f.result() for f in futures]

    def health_after(self, since: float, timeout: float = 60) -> None:
        wait_for(lambda: http_status(f"{self.service.url}/health") == 200, timeout, 0.1)
        self.recovery = time.monotonic() - since

    def accepted(self) -> list[str]:
        return [id for status, id, _ in self.answers if status == 201 and id]

    def statuses(self) -> dict[str, str]:
        ids = self.accepted()
        if not ids:
            return {}
        rows = self.cluster.query(
            "SELECT id, status FROM avatars WHERE id IN (" + ",".join(f"'{i}'" for i in ids) + ")"
        )
        return {row[0]: row[1] for row in rows}

    def settle(self, timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            statuses = self.statuses()
            pending = [i for i in self.accepted() if statuses.get(i) in ("processing", "uploading")]
            if not pending or time.monotonic() > deadline:
                return statuses
            time.sleep(1)

    def check(self, settle_timeout: float) -> bool:
        statuses = self.settle(settle_timeout)
        accepted = self.accepted()
        codes = [status for status, _, _ in self.answers]
        without_retry_after = sum(1 for s, _, ra in self.answers if s == 503 and not ra)
        figures = {
            "attempted": len(self.answers),
            "201": codes.count(201),
            "503": codes.count(503),
            "500": codes.count(500),
            "other": len([c for c in codes if c not in (201, 503, 500)]),
            "ready": sum(1 for i in accepted if statuses.get(i) == "ready"),
            "failed": sum(1 for i in accepted if statuses.get(i) == "failed"),
            "lost": sum(1 for i in accepted if i not in statuses),
            "stuck": sum(1 for i in accepted if statuses.get(i) in ("processing", "uploading")),
        }
        report = self.service.sweep()
        keys = self.service.keys()
        rows = {row[0]: row[1] for row in self.cluster.query("SELECT id, status FROM avatars WHERE deleted_at IS NULL")}
        by_avatar: dict[str, list[str]] = {}
        for key in keys:
            parts = key.split("/")
            if len(parts) >= 3:
                by_avatar.setdefault(parts[2], []).append(key)
        orphan_objects = [k for avatar, ks in by_avatar.items() if avatar not in rows for k in ks]
        rows_without_original = [
            i for i, status in rows.items() if status != "uploading" and f"originals/faults-{self.name}/{i}" not in keys
        ]
        incomplete = [i for i in accepted if len(by_avatar.get(i, [])) < 4]
        if accepted:
            figures["re-drives"] = int(self.cluster.query(
                "SELECT coalesce(sum(redrives), 0) FROM avatars WHERE id IN ("
                + ",".join(f"'{i}'" for i in accepted) + ")"
            )[0][0])
        figures["orphan objects"] = len(orphan_objects)
        figures["orphan rows"] = len(rows_without_original)
        figures["incomplete"] = len(incomplete)
        recovery = f", /health 200 again {self.recovery:.1f} s after the dependency's return" if self.recovery is not None else ""
        say(self.name, " ".join(f"{k}={v}" for k, v in figures.items()) + recovery + f"; sweep {report}")
        problems = []
        if figures["201"] == 0:
            problems.append("no upload was accepted")
        if figures["500"]:
            problems.append(f"{figures['500']} answers were 500")
        if without_retry_after:
            problems.append(f"{without_retry_after} answers were 503 without Retry-After")
        if figures["ready"] != figures["201"]:
            problems.append(f"{figures['201'] - figures['ready']} accepted uploads are not ready")
        for what in ("orphan objects", "orphan rows", "incomplete"):
            if figures[what]:
                problems.append(f"{figures[what]} {what}")
        if self.recovery is not None and self.recovery > 15:
            problems.append(f"/health took {self.recovery:.1f} s to recover")
        for problem in problems:
            say(self.name, f"FAIL: {problem}")
        return not problems


def scenario(name: str, settings: dict[str, str] | None = None, proxy: bool = False):
    """Runs `body(run, cluster, moto, service, proxy)` on a fresh stack."""

    def wrap(body):
        def run_it() -> bool:
            started = time.monotonic()
            cluster = Cluster(name)
            moto = Moto(name)
            fault_proxy = Proxy(moto.port) if proxy else None
            service = None
            try:
                service = Service(name, cluster, moto, fault_proxy.url if fault_proxy else None, **(settings or {}))
                run = Run(name, service, cluster)
                ok = body(run, cluster, moto, service, fault_proxy)
                say(name, f"{'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s (log: {service.log_path})")
                return ok
            except Exception as e:  # noqa: BLE001 -- reported as the scenario's failure
                say(name, f"FAILED: {e!r}")
                return False
            finally:
                if service:
                    service.close()
                if fault_proxy:
                    fault_proxy.close()
                moto.close()
                cluster.close()

        SCENARIOS[name] = run_it
        return run_it

    return wrap


SCENARIOS: dict = {}


@scenario("pg-restart")
def pg_restart(run: Run, cluster: Cluster, *_):
    def restart():
        time.sleep(0.5)
        say(run.name, "pg_ctl restart -m fast")
        cluster.restart()
        run.health_after(time.monotonic())

    run.burst(30, 6, pace=0.1, during=restart)
    return run.check(120)


PG_DOWN_SECONDS = int(os.environ.get("FAULTS_PG_DOWN_SECONDS", "180"))


@scenario("pg-down", settings={"BATCH_WINDOW_SECONDS": "3"})
def pg_down(run: Run, cluster: Cluster, *_):
    # The batching window holds the thumbnail batch a few seconds, so the
    # outage begins before any of the burst is processed.
    run.burst(12, 4)
    say(run.name, f"PostgreSQL stopped for {PG_DOWN_SECONDS} s")
    cluster.stop()
    time.sleep(PG_DOWN_SECONDS)
    cluster.start()
    run.health_after(time.monotonic())
    # Deliveries back off (30, 60, 120, 240 s): the next one after the
    # outage comes within about four minutes of the first.
    return run.check(300)


@scenario("outlasting", settings={
    "VISIBILITY_TIMEOUT_SECONDS": "1", "RETRY_MAX_SECONDS": "2", "MAX_RECEIVE_COUNT": "3",
    "BATCH_WINDOW_SECONDS": "2", "SWEEP_INTERVAL_SECONDS": "5", "PROCESSING_DEADLINE_SECONDS": "10",
})
def outlasting(run: Run, cluster: Cluster, *_):
    # Three deliveries a second or two apart: all spent long before the
    # database is back, so every message ends in the dead-letter queue.
    run.burst(8, 4)
    say(run.name, "PostgreSQL stopped for 30 s: longer than every delivery")
    cluster.stop()
    time.sleep(30)
    cluster.start()
    run.health_after(time.monotonic())
    ok = run.check(120)
    redriven = int(cluster.query("SELECT count(*) FROM avatars WHERE redrives > 0")[0][0])
    if not redriven:
        say(run.name, "FAIL: nothing was re-driven: the outage did not outlast the deliveries")
    return ok and redriven > 0


@scenario("s3-freeze")
def s3_freeze(run: Run, cluster: Cluster, moto: Moto, *_):
    def freeze():
        time.sleep(0.3)
        say(run.name, "emulator frozen (SIGSTOP) for 10 s")
        moto.freeze()
        time.sleep(10)
        moto.thaw()
        run.health_after(time.monotonic())

    run.burst(30, 6, pace=0.1, during=freeze)
    return run.check(120)


@scenario("worker-killed", settings={"VISIBILITY_TIMEOUT_SECONDS": "10", "BATCH_WINDOW_SECONDS": "1"})
def worker_killed(run: Run, cluster: Cluster, moto: Moto, service: Service, _):
    run.burst(10, 5)
    # Kill it while the batch is being rendered: once its first thumbnail
    # is stored.
    rendered = "SELECT count(*) FROM avatar_variants WHERE size <> 'original'"
    wait_for(lambda: int(cluster.query(rendered)[0][0]) > 0, 60, 0.05)
    statuses = run.statuses()
    say(run.name, f"SIGKILL in the middle of the batch: {list(statuses.values()).count('ready')} of {len(statuses)} ready")
    service.kill()
    time.sleep(1)
    service.start()
    # Messages in flight come back after the visibility timeout (10 s).
    return run.check(120)


@scenario("s3-latency-drops", proxy=True)
def s3_latency_drops(run: Run, cluster: Cluster, moto: Moto, service: Service, proxy: Proxy):
    proxy.latency, proxy.drop_rate = 0.2, 0.15
    say(run.name, "S3 behind 200 ms of latency, 15 % of connections reset")
    run.burst(16, 4, pace=0.1)
    proxy.latency, proxy.drop_rate = 0.0, 0.0
    ok = run.check(180)
    say(run.name, f"{proxy.dropped} connections reset by the proxy")
    return ok and proxy.dropped > 0


def main(names: list[str]) -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    assert BINARY.exists(), f"{BINARY} not built (cargo build -p avatar-local)"
    assert MOTO.exists(), f"{MOTO} missing (bash scripts/deps.sh moto)"
    unknown = set(names) - set(SCENARIOS)
    assert not unknown, f"unknown scenarios {unknown}; known: {list(SCENARIOS)}"
    chosen = names or list(SCENARIOS)
    started = time.monotonic()
    # The long outage runs beside the others (its own stack; it mostly waits).
    long = [n for n in chosen if n == "pg-down"]
    rest = [n for n in chosen if n != "pg-down"]
    results: dict[str, bool] = {}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        background = {n: pool.submit(SCENARIOS[n]) for n in long}
        for n in rest:
            results[n] = SCENARIOS[n]()
        for n, future in background.items():
            results[n] = future.result()
    failed = [n for n, ok in results.items() if not ok]
    print(f"[faults] {len(results) - len(failed)} of {len(results)} scenarios passed in "
          f"{time.monotonic() - started:.0f} s" + (f"; failed: {failed}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
