"""`make coldstart`: every function's stripped release binary size and cold
start, in both ways a function runs, against the local stack (PostgreSQL and
the S3/SQS emulator of scripts/stack.sh, which the caller has started and
described in the environment).

Cold start = process start -> first answered request:

* **Lambda**: this script serves a minimal Lambda Runtime API on loopback
  (the `/2018-06-01/runtime/invocation/next` and `.../response` endpoints)
  holding one event, and starts the binary with `AWS_LAMBDA_RUNTIME_API`
  pointing at it. Measured: spawn -> the function POSTs its response, i.e.
  Lambda's init phase plus the first invoke. HTTP functions get an API
  Gateway HTTP API (v2) event for `GET /health`; the thumbnail function an
  SQS event holding an `s3:TestEvent`; the purge function an SQS event
  holding an `AvatarDeleteEvent` of an unknown avatar (one S3 list and one
  SQL delete).
* **HTTP** (Knative): spawn -> the first 200 of `GET /health` on `$PORT`,
  which itself asks PostgreSQL and S3.

Each is run RUNS times; the table gives the median and the maximum, and the
peak RSS (VmHWM) of the process right after its first answer.

usage: python coldstart.py RELEASE_DIR [--runs N] [--out BENCHMARKS.md]
"""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from report import replace_section

HTTP_FUNCTIONS = ["upload", "get", "metadata", "delete"]
EVENT_FUNCTIONS = ["thumbnail", "purge"]
BUDGET_MS = 50
BUDGET_BYTES = 15_000_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_event():
    """An API Gateway HTTP API (payload 2.0) event for GET /health."""
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": "/health", "rawQueryString": "",
        "headers": {"host": "localhost", "accept": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "localhost", "domainPrefix": "localhost",
            "http": {"method": "GET", "path": "/health", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "coldstart"},
            "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
            "time": "21/Nov/2026:00:00:00 +0000", "timeEpoch": 1795219200000,
        },
        "isBase64Encoded": False,
    }


def sqs_event(body):
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": body,
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1",
    }]}


def event_for(function):
    if function == "thumbnail":
        return sqs_event(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}))
    if function == "purge":
        return sqs_event(json.dumps({"message_id": str(uuid.uuid4()), "avatar_id": str(uuid.uuid4()),
                                     "user_id": "coldstart", "s3_keys": []}))
    return health_event()


class RuntimeApi:
    """One invocation's worth of the Lambda Runtime API."""

    def __init__(self):
        self.answered = threading.Event()
        self.answer_at = None
        self.answer = None
        self.event = None
        self.given = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                if api.given:  # the function asks for its next event: none comes
                    api.answered.wait(30)
                    time.sleep(30)
                    return
                api.given = True
                body = json.dumps(api.event).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:f")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                at = time.perf_counter()
                # lambda_runtime sends buffered responses with a length.
                length = self.headers.get("Content-Length")
                data = self.rfile.read(int(length)) if length else b"no Content-Length"
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                api.answer_at = at
                api.answer = (self.path if length else "/unreadable", data)
                api.answered.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def stop(proc):
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def lambda_cold_start(binary, function):
    api = RuntimeApi()
    api.event = event_for(function)
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=api.address, AWS_LAMBDA_FUNCTION_NAME=function,
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
               AWS_LAMBDA_LOG_STREAM_NAME="coldstart", AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{function}",
               RUST_LOG="warn")
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not api.answered.wait(30):
            raise RuntimeError(f"{function} gave no answer on Lambda: {proc.stderr.read1().decode()}")
        ms = (api.answer_at - start) * 1000
        rss = peak_rss_kib(proc.pid)
        path, body = api.answer
        if not path.endswith("/response"):
            raise RuntimeError(f"{function} reported an error on Lambda: {path} {body[:300]!r}")
        answer = json.loads(body)
        if function in HTTP_FUNCTIONS and answer.get("statusCode") != 200:
            raise RuntimeError(f"{function} answered {answer.get('statusCode')} on Lambda: {body[:300]!r}")
        if function in EVENT_FUNCTIONS and answer != {"batchItemFailures": []}:
            raise RuntimeError(f"{function} answered {answer} on Lambda")
        return ms, rss
    finally:
        stop(proc)
        api.close()


def http_cold_start(binary, function):
    port = free_port()
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), RUST_LOG="warn")
    env.pop("AWS_LAMBDA_RUNTIME_API", None)
    url = f"http://127.0.0.1:{port}/health"
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as res:
                    at = time.perf_counter()
                    if res.status != 200:
                        raise RuntimeError(f"{function} /health answered {res.status}")
                    return (at - start) * 1000, peak_rss_kib(proc.pid)
            except (ConnectionRefusedError, urllib.error.URLError) as e:
                if isinstance(e, urllib.error.HTTPError):
                    raise RuntimeError(f"{function} /health answered {e.code}: {e.read()[:300]!r}") from e
                if proc.poll() is not None:
                    raise RuntimeError(f"{function} exited: {proc.stderr.read().decode()[-500:]}") from e
                if time.perf_counter() - start > 30:
                    raise
                time.sleep(0.0005)
    finally:
        stop(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("release_dir")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--out")
    a = ap.parse_args()
    rows = []
    for function in HTTP_FUNCTIONS + EVENT_FUNCTIONS:
        binary = os.path.join(a.release_dir, function)
        size = os.path.getsize(binary)
        measured = {}
        for mode, measure in (("lambda", lambda_cold_start), ("http", http_cold_start)):
            # One unmeasured start warms the page cache with the binary.
            measure(binary, function)
            runs = [measure(binary, function) for _ in range(a.runs)]
            ms = sorted(r[0] for r in runs)
            measured[mode] = (statistics.median(ms), ms[-1], max(r[1] for r in runs) / 1024)
        rows.append((function, size, measured))
        print(f"{function}: {size / 1e6:.1f} MB; lambda {measured['lambda'][0]:.1f} ms; http {measured['http'][0]:.1f} ms",
              file=sys.stderr)

    ok = lambda v, budget: "" if v <= budget else " (over budget)"  # noqa: E731
    lines = [
        "## Cold start and binary size",
        "",
        f"Reproduce: `make coldstart` (runs `python bench/coldstart.py target/release --runs {a.runs} --out BENCHMARKS.md`",
        "against the local stack it starts). Budget (issue 5): stripped binary ≤ 15 MB, cold start ≤ 50 ms.",
        "",
        "Cold start is process start → first answered request. **Lambda**: the binary under a minimal Lambda",
        "Runtime API on loopback (served by the script), spawn → its response to the first event (init + first",
        "invoke): `GET /health` as an API Gateway v2 event for the HTTP functions, an SQS `s3:TestEvent` for",
        "thumbnail, an SQS delete event of an unknown avatar for purge. **HTTP** (Knative): spawn → first 200",
        "of `GET /health` on `$PORT`. Both include building the AWS clients and the PostgreSQL pool; health",
        "also asks PostgreSQL and S3 (local PostgreSQL 15 and moto on loopback). Median and max of",
        f"{a.runs} starts after one warm-up; peak RSS (VmHWM) right after the first answer.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; the release profile of",
        "Cargo.toml (`strip = true`, fat LTO, one codegen unit, opt-level \"z\" except the image pipeline's",
        "crates at 3), x86_64 glibc (the Lambda build is arm64 via `cargo lambda build`). Built with",
        "the `heif` feature (`scripts/coldstart.sh`): upload, thumbnail and get (one build, so their features",
        "unify) link Debian's libheif and its codecs dynamically, which the Lambda build does not yet (README,",
        "\"HEIC and AVIF\").",
        "",
        "| function | stripped size, MB | Lambda median, ms | Lambda max, ms | HTTP median, ms | HTTP max, ms | peak RSS, MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for function, size, m in rows:
        lm, lx, lr = m["lambda"]
        hm, hx, hr = m["http"]
        lines.append(
            f"| {function} | {size / 1e6:.1f}{ok(size, BUDGET_BYTES)} | {lm:.1f}{ok(lm, BUDGET_MS)} | {lx:.1f} "
            f"| {hm:.1f}{ok(hm, BUDGET_MS)} | {hx:.1f} | {max(lr, hr):.1f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        replace_section(a.out, "coldstart", text)


if __name__ == "__main__":
    main()
