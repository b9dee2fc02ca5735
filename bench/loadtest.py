"""`make loadtest`: the service under load, with its peers measured in the
same run, on loopback only, bounded in count and time.

* Uploads (Locust, bench/locustfile.py): one uploader alone, then a burst
  of UPLOADERS concurrent uploaders, UPLOADS photos from fixtures/images in
  all; upload response time and upload → ready (the row's timestamps)
  p50/p95/p99/max; the CPU time `avatar-local` spent per upload, against
  the pipeline's own CPU time for the same photos (`avatars render`, three
  sizes); the upload queue's depth sampled through the burst.
* Reads (wrk, SECONDS each, 2 threads, 16 connections): a stored 300 px
  variant (200), the same with If-None-Match (304), the current-avatar URL,
  metadata, the list; and, as references, the same object straight from
  the S3 emulator (a presigned GET) and Debian's nginx (one worker) serving
  the same bytes from disk.

Writes its section of BENCHMARKS.md and two PNG charts (bench/charts/).

usage: python bench/loadtest.py AVATAR_LOCAL AVATARS_CLI --out BENCHMARKS.md
           [--uploaders 20] [--uploads 40] [--seconds 10]
Needs the stack of scripts/stack.sh in the environment (AWS_*, DATABASE_URL),
wrk and nginx on PATH (scripts/loadtest.sh installs them), and this venv's
locust, boto3 and matplotlib.
"""

import argparse
import csv
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import boto3

from report import replace_section

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "images"
PHOTOS = sorted(p for p in FIXTURES.iterdir() if p.suffix in {".jpg", ".png", ".webp"})
READ_PHOTO = FIXTURES / "j09_photo_eveningglow.jpg"
CHARTS = ROOT / "bench" / "charts"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, headers=None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as res:
        return res.status, res.headers, res.read()


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Service:
    """The release `avatar-local serve` with names of its own."""

    def __init__(self, binary, **settings):
        self.port = free_port()
        suffix = uuid.uuid4().hex[:10]
        self.bucket = f"load-{suffix}"
        self.queue = f"load-up-{suffix}"
        self.env = dict(
            os.environ, GATEWAY_ADDR=f"127.0.0.1:{self.port}", METRICS_ADDR=f"127.0.0.1:{free_port()}",
            AVATAR_BUCKET=self.bucket, WEB_BUCKET=f"load-web-{suffix}", UPLOAD_QUEUE=self.queue,
            DELETE_QUEUE=f"load-del-{suffix}", UPLOADS_PER_USER_PER_MINUTE="0", KEEP_AVATARS_PER_USER="0",
            RUST_LOG="warn",
            DATABASE_URL=os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/avatars_test_load_{suffix}",
            **settings,
        )
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            self.env.pop(name, None)
        self.process = subprocess.Popen([binary, "serve"], env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if request(f"{self.url}/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("avatar-local did not start")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def close(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def locust(service, users, uploads, user, out_dir):
    """Runs the Locust scenario headless; its stats rows by name."""
    prefix = out_dir / f"locust-{users}"
    env = dict(os.environ, PHOTOS=":".join(map(str, PHOTOS)), UPLOADS_TOTAL=str(uploads), LOADTEST_USER=user)
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "bench/locustfile.py"), "--headless",
         "--users", str(users), "--spawn-rate", str(users), "--run-time", "180s", "--host", service.url,
         "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"],
        env=env, check=True,
    )
    with open(f"{prefix}_stats.csv") as fh:
        return {row["Name"]: row for row in csv.DictReader(fh)}


def percentiles(row):
    return {p: float(row[f"{p}%"] if f"{p}%" in row else row["100%"]) for p in ("50", "95", "99", "100")} | {
        "n": int(row["Request Count"]), "failures": int(row["Failure Count"])}


def sample_queue(service, stop, samples):
    sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
    url = sqs.get_queue_url(QueueName=service.queue)["QueueUrl"]
    started = time.monotonic()
    while not stop.is_set():
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        samples.append((time.monotonic() - started, int(attributes["ApproximateNumberOfMessages"]),
                        int(attributes["ApproximateNumberOfMessagesNotVisible"])))
        time.sleep(0.25)


def pipeline_cpu(avatars, count, out_dir, runs=3):
    """CPU seconds `avatars render` (100, 300 and 1200 px) takes for the
    photos the burst uploads: `count` of them, cycling; the least of
    `runs` runs (the machine's noise is ±10 %; the least is the pipeline's
    best, the harder reference)."""
    files = [str(PHOTOS[i % len(PHOTOS)]) for i in range(count)]
    best = float("inf")
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([avatars, "render", *files, "--sizes", "100,300,1200", "--out", str(out_dir / "render")],
                       check=True, stdout=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return best


WRK_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def wrk(url, seconds, headers=()):
    args = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency"]
    for header in headers:
        args += ["-H", header]
    out = subprocess.run([*args, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    lat = {p: float(v) * scale[u] for p, v, u in WRK_LATENCY.findall(out)}
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {"rps": rps, "p50": lat.get("50"), "p99": lat.get("99"), "errors": errors}


def nginx(directory, port):
    conf = Path(directory) / "nginx.conf"
    conf.write_text(
        f"worker_processes 1;\ndaemon off;\npid {directory}/nginx.pid;\nerror_log {directory}/error.log;\n"
        "events { worker_connections 1024; }\n"
        f"http {{ access_log off; server {{ listen 127.0.0.1:{port}; root {directory}/www; }} }}\n"
    )
    process = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(directory)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            request(f"http://127.0.0.1:{port}/v.jpg")
            return process
        except OSError:
            time.sleep(0.1)
    raise SystemExit("nginx did not start")


def upload_ready(service, user):
    """Uploads READ_PHOTO as `user` and waits until it is ready; its id."""
    body_bytes = READ_PHOTO.read_bytes()
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{READ_PHOTO.name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + body_bytes + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"{service.url}/api/v1/avatars", data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "X-User-ID": user})
    with urllib.request.urlopen(req, timeout=60) as res:
        avatar = json.loads(res.read())["id"]
    deadline = time.monotonic() + 60
    while json.loads(request(f"{service.url}/api/v1/avatars/{avatar}/metadata")[2])["status"] != "ready":
        assert time.monotonic() < deadline, "the read avatar never became ready"
        time.sleep(0.1)
    return avatar


def read_mix(service, seconds, out_dir, second):
    user = "loadtest-reader"
    avatar = upload_ready(service, user)
    image = f"{service.url}/api/v1/avatars/{avatar}?size=300x300"
    _, headers, variant = request(image)
    etag = headers["ETag"]
    current = f"{service.url}/api/v1/users/{user}/avatar?size=300x300"
    current_etag = request(current)[1]["ETag"]
    second_avatar = upload_ready(second, user)
    redirect = f"{second.url}/api/v1/users/{user}/avatar?size=300x300"
    trusted = f"{second.url}/api/v1/avatars/{second_avatar}?size=300x300"
    trusted_etag = request(trusted)[1]["ETag"]
    www = out_dir / "www"
    www.mkdir(exist_ok=True)
    # nginx's worker (run as root, it drops to nobody) must read it.
    out_dir.chmod(0o755)
    (www / "v.jpg").write_bytes(variant)
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
    presigned = s3.generate_presigned_url("get_object", Params={
        "Bucket": service.bucket, "Key": f"variants/{user}/{avatar}/300x300.jpg"}, ExpiresIn=3600)
    assert request(presigned)[2] == variant, "the presigned GET serves the same bytes"
    results = {}
    operations = [
        ("GET stored 300 px variant (200)", image, ()),
        ("GET same, If-None-Match (304)", image, (f"If-None-Match: {etag}",)),
        ("same, HOT_CACHE_TTL_SECONDS=60 (200)", trusted, ()),
        ("same, HOT_CACHE_TTL_SECONDS=60, If-None-Match (304)", trusted, (f"If-None-Match: {trusted_etag}",)),
        ("GET current avatar, 300 px (200)", current, ()),
        ("GET current avatar, If-None-Match (304)", current, (f"If-None-Match: {current_etag}",)),
        ("GET current avatar, CURRENT_AVATAR=redirect (302)", redirect, ()),
        ("GET metadata", f"{service.url}/api/v1/avatars/{avatar}/metadata", ()),
        ("GET list", f"{service.url}/api/v1/users/{user}/avatars", ()),
        ("S3 emulator: presigned GET of the same object", presigned, ()),
    ]
    for name, url, headers in operations:
        results[name] = wrk(url, seconds, headers)
    port = free_port()
    server = nginx(out_dir, port)
    try:
        results["nginx, 1 worker: the same bytes from disk"] = wrk(f"http://127.0.0.1:{port}/v.jpg", seconds)
    finally:
        server.terminate()
        server.wait(10)
    return results, len(variant)


def charts(upload_rows, reads, samples, burst_users):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    CHARTS.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    labels, p50, p95, p99 = [], [], [], []
    for label, row in upload_rows:
        labels.append(label)
        p50.append(row["50"])
        p95.append(row["95"])
        p99.append(row["99"])
    for name, r in reads.items():
        if r["p50"] is not None:
            labels.append(name.split(":")[0].replace("GET ", ""))
            p50.append(r["p50"])
            p95.append(float("nan"))
            p99.append(r["p99"])
    x = range(len(labels))
    ax.bar([i - 0.27 for i in x], p50, 0.27, label="p50")
    ax.bar(list(x), p95, 0.27, label="p95")
    ax.bar([i + 0.27 for i in x], p99, 0.27, label="p99")
    ax.set_yscale("log")
    ax.set_ylabel("ms (log scale)")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
    ax.set_title("make loadtest: latency percentiles per operation")
    ax.legend()
    fig.tight_layout()
    fig.savefig(CHARTS / "loadtest-latency.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot([s[0] for s in samples], [s[1] for s in samples], label="waiting (ApproximateNumberOfMessages)")
    ax.plot([s[0] for s in samples], [s[2] for s in samples], label="in flight (NotVisible)")
    ax.set_xlabel("seconds since the burst started")
    ax.set_ylabel("messages")
    ax.set_title(f"upload queue during the burst of {burst_users} uploaders")
    ax.legend()
    fig.tight_layout()
    fig.savefig(CHARTS / "loadtest-queue.png", dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("avatar_local")
    parser.add_argument("avatars")
    parser.add_argument("--out", required=True)
    parser.add_argument("--uploaders", type=int, default=20)
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    out_dir = Path(tempfile.mkdtemp(prefix="loadtest-"))
    service = Service(args.avatar_local)
    second = Service(args.avatar_local, CURRENT_AVATAR="redirect", HOT_CACHE_TTL_SECONDS="60")
    try:
        alone = locust(service, 1, len(PHOTOS), "loadtest-alone", out_dir)
        stop, samples = threading.Event(), []
        sampler = threading.Thread(target=sample_queue, args=(service, stop, samples), daemon=True)
        cpu_before = cpu_seconds(service.process.pid)
        sampler.start()
        burst = locust(service, args.uploaders, args.uploads, "loadtest-burst", out_dir)
        stop.set()
        sampler.join(5)
        cpu_per_upload = (cpu_seconds(service.process.pid) - cpu_before) / args.uploads
        reads, variant_bytes = read_mix(service, args.seconds, out_dir, second)
    finally:
        service.close()
        second.close()
    pipeline_per_upload = pipeline_cpu(args.avatars, args.uploads, out_dir) / args.uploads
    shutil.rmtree(out_dir, ignore_errors=True)

    rows = [
        ("upload, 1 uploader", percentiles(alone["upload"])),
        ("upload → ready, 1 uploader", percentiles(alone["upload → ready"])),
        (f"upload, {args.uploaders} uploaders", percentiles(burst["upload"])),
        (f"upload → ready, {args.uploaders} uploaders", percentiles(burst["upload → ready"])),
    ]
    charts(rows, reads, samples, args.uploaders)
    nginx_rps = reads["nginx, 1 worker: the same bytes from disk"]["rps"]
    get200 = reads["GET stored 300 px variant (200)"]["rps"]
    get304 = reads["GET same, If-None-Match (304)"]["rps"]
    cpu_ratio = cpu_per_upload / pipeline_per_upload
    objectives = [
        ("upload → ready p50, 20 uploaders", "≤ 2 s", f"{rows[3][1]['50'] / 1000:.2f} s", rows[3][1]["50"] <= 2000),
        ("upload → ready p50, 1 uploader", "≤ 150 ms", f"{rows[1][1]['50']:.0f} ms", rows[1][1]["50"] <= 150),
        ("avatar-local CPU per upload / pipeline", "≤ 1.2×", f"{cpu_ratio:.2f}× ({cpu_per_upload * 1000:.0f} / "
         f"{pipeline_per_upload * 1000:.0f} ms)", cpu_ratio <= 1.2),
        ("GET 200 / nginx", "≥ 0.10×", f"{get200 / nginx_rps:.3f}× ({get200:.0f} / {nginx_rps:.0f} rps)",
         get200 / nginx_rps >= 0.10),
        ("GET 304 / nginx", "≥ 0.25×", f"{get304 / nginx_rps:.3f}× ({get304:.0f} / {nginx_rps:.0f} rps)",
         get304 / nginx_rps >= 0.25),
    ]
    lines = [
        "## Load: `make loadtest`",
        "",
        "Reproduce: `make loadtest` (scripts/loadtest.sh → `bench/loadtest.py`: the release `avatar-local serve`",
        "on the local stack, Locust for the uploads (`bench/locustfile.py`), wrk for the reads). Loopback only,",
        f"bounded: {len(PHOTOS)} uploads by one uploader, then {args.uploads} by {args.uploaders} at once (the photos of",
        f"fixtures/images, 0.1-24 MP), then {args.seconds} s of wrk (2 threads, 16 connections) per read.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; moto, PostgreSQL, wrk and",
        "the service share it, so absolute rates are the machine's; the ratios are what the objectives are about.",
        "",
        "### Objectives",
        "",
        "| objective | target | measured | |",
        "|---|---|---|---|",
        *[f"| {name} | {target} | {value} | {'met' if ok else '**missed**'} |" for name, target, value, ok in objectives],
        "",
        "### Uploads",
        "",
        "| operation | n | failures | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
        *[f"| {name} | {r['n']} | {r['failures']} | {r['50']:.0f} | {r['95']:.0f} | {r['99']:.0f} | {r['100']:.0f} |"
          for name, r in rows],
        "",
        f"CPU: `avatar-local` {cpu_per_upload * 1000:.0f} ms per upload of the burst (upload, validation, storing,",
        f"thumbnails, HTTP, SQS, database); `avatars render` (the pipeline alone, three sizes) {pipeline_per_upload * 1000:.0f} ms",
        "for the same photos (the least of three runs).",
        "",
        "### Reads",
        "",
        f"The object is the 300 px JPEG variant ({variant_bytes} bytes), hot in the get function's memory: by",
        "default each hit still asks the database whether the avatar is visible (a delete is seen by every",
        "instance at once); a second service with `HOT_CACHE_TTL_SECONDS=60` skips that query for a minute.",
        "The current-avatar URL is measured both ways (README, \"Caching\"): `revalidate` answers the image",
        "(and a 304 to a client that has it), `redirect` (the second service, `CURRENT_AVATAR=redirect`) a 302",
        "to the id's immutable URL; wrk does not follow redirects, so that row is the 302 alone — a client then",
        "reads the image from its cache.",
        "",
        "| operation | rps | p50 ms | p99 ms | errors | / nginx |",
        "|---|---|---|---|---|---|",
        *[f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['errors']} | {r['rps'] / nginx_rps:.3f} |"
          for name, r in reads.items()],
        "",
        "![latency percentiles](bench/charts/loadtest-latency.png)",
        "",
        "![upload queue depth](bench/charts/loadtest-queue.png)",
    ]
    replace_section(args.out, "loadtest", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
