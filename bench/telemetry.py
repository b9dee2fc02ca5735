"""`make bench-telemetry`: what exporting traces costs a GET of a stored
variant. The same release `avatar-local serve` is run alternately with no
OTLP endpoint (no exporter) and exporting every span to an OTLP/HTTP sink
on loopback (answers 200, keeps nothing), and wrk measures requests per
second of `GET /api/v1/avatars/{id}?size=300x300` (200, bytes from storage)
for each. Rounds alternate, so drift on the machine hits both modes.

usage: python bench/telemetry.py AVATAR_LOCAL --out BENCHMARKS.md [--rounds 3] [--seconds 10]
Needs the stack of scripts/stack.sh in the environment (AWS_*, DATABASE_URL).
"""

import argparse
import http.server
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from report import replace_section

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "fixtures/images/j09_photo_eveningglow.jpg"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that accepts and drops every export."""
    received = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        Sink.received += 1
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def request(url, data=None, headers=None, method=None):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    with urllib.request.urlopen(req, timeout=30) as res:
        return res.status, res.read()


def multipart(path):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}", "X-User-ID": "bench"}


def run_mode(binary, export, sink_url, seconds):
    port, metrics = free_port(), free_port()
    suffix = uuid.uuid4().hex[:10]
    env = dict(os.environ, GATEWAY_ADDR=f"127.0.0.1:{port}", METRICS_ADDR=f"127.0.0.1:{metrics}",
               AVATAR_BUCKET=f"bench-{suffix}", WEB_BUCKET=f"bench-web-{suffix}",
               UPLOAD_QUEUE=f"bench-up-{suffix}", DELETE_QUEUE=f"bench-del-{suffix}",
               DATABASE_URL=os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/avatars_test_bench_{suffix}",
               RUST_LOG="warn")
    for name in ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]:
        env.pop(name, None)
    if export:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink_url
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if request(f"{base}/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        body, headers = multipart(PHOTO)
        _, created = request(f"{base}/api/v1/avatars", body, headers)
        avatar = re.search(rb'"id":"([^"]+)"', created).group(1).decode()
        for _ in range(300):
            _, meta = request(f"{base}/api/v1/avatars/{avatar}/metadata")
            if b'"status":"ready"' in meta:
                break
            time.sleep(0.1)
        url = f"{base}/api/v1/avatars/{avatar}?size=300x300"
        request(url)
        out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", url],
                             capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        return rps, p99, int(non2xx.group(1)) if non2xx else 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--out")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    a = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink = f"http://127.0.0.1:{server.server_address[1]}"
    results = {False: [], True: []}
    for round_ in range(a.rounds):
        for export in (False, True):
            rps, p99, errors = run_mode(a.binary, export, sink, a.seconds)
            assert errors == 0, f"{errors} non-2xx answers"
            results[export].append((rps, p99))
            print(f"round {round_ + 1}: export {'on ' if export else 'off'} {rps:8.0f} rps, p99 {p99}", flush=True)
    assert Sink.received > 0, "nothing was exported in the export-on runs"
    off = statistics.median(r for r, _ in results[False])
    on = statistics.median(r for r, _ in results[True])
    print(f"median: off {off:.0f} rps, on {on:.0f} rps, on/off {on / off:.3f}; {Sink.received} exports received")
    if a.out:
        rows = "\n".join(
            f"| {i + 1} | {results[False][i][0]:.0f} | {results[False][i][1]} | {results[True][i][0]:.0f} | {results[True][i][1]} |"
            for i in range(a.rounds))
        text = f"""## Telemetry: what exporting traces costs a GET

Reproduce: `make bench-telemetry` (`bench/telemetry.py`, against the stack of
scripts/stack.sh). The release `avatar-local serve`, alternately without an
OTLP endpoint (no exporter: spans get ids for the log lines, nothing is
sampled) and exporting every span (sampler `parentbased_always_on`) to an
OTLP/HTTP sink on loopback; `wrk -t2 -c16 -d{a.seconds}s` on
`GET /api/v1/avatars/{{id}}?size=300x300` (200 with the bytes from the S3
emulator; each request has a server span, two statement spans and an
S3.GetObject span). Budget (issue 12): export on ≥ 0.95× export off.

Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; wrk, moto and PostgreSQL
on the same loopback, so the absolute rates are the emulator's as much as ours.

| round | export off, rps | off p99 | export on, rps | on p99 |
|---|---|---|---|---|
{rows}

Median: **{off:.0f} rps off, {on:.0f} rps on: on/off = {on / off:.3f}**; the sink received {Sink.received} exports.
"""
        replace_section(a.out, "telemetry", text)


if __name__ == "__main__":
    sys.exit(main())
