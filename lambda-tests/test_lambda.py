"""The Lambda code path, proven locally (issue 5, item 3).

`scripts/lambda-tests.sh` starts `cargo lambda watch` with the router table
of Cargo.toml (`[workspace.metadata.lambda.watch.router]`), so every request
below goes gateway -> API Gateway v2 event -> `lambda_http` -> the function's
router -> response event, with binary bodies base64-encoded both ways. The
thumbnail and purge functions are invoked with `cargo lambda invoke
--data-file`, with SQS events built from messages received from the
emulator's queues: the S3 notifications the emulator really sent, and the
delete events the delete function really queued.

One scenario, in order (unittest runs test_NN_* alphabetically); each step
keeps what the next needs on the class.

Environment (set by the script): GATEWAY_URL, AWS_ENDPOINT_URL, AWS_REGION,
AVATAR_BUCKET, UPLOAD_QUEUE, DELETE_QUEUE, REDIRECT_ABOVE_BYTES, CORPUS_DIR,
INVOKE_ADDRESS, INVOKE_PORT, ARTIFACTS_DIR, CARGO_LAMBDA.
"""

import json
import os
import re
import struct
import subprocess
import time
import unittest
import uuid
from pathlib import Path
from urllib.parse import unquote_plus

import boto3
import requests

ENV = os.environ
GATEWAY = ENV["GATEWAY_URL"]
CORPUS = Path(ENV["CORPUS_DIR"])
ARTIFACTS = Path(ENV["ARTIFACTS_DIR"])
ROOT = Path(__file__).resolve().parent.parent
USER = "lambda-alice"
# 2560x1600, 618 KiB: over REDIRECT_ABOVE_BYTES as the script sets it.
PHOTO = CORPUS / "j09_photo_eveningglow.jpg"

aws = dict(endpoint_url=ENV["AWS_ENDPOINT_URL"], region_name=ENV["AWS_REGION"])
s3 = boto3.client("s3", **aws)
sqs = boto3.client("sqs", **aws)


# cargo-lambda 1.9.2's gateway now and then answers its own 500 for a
# request its function answered: the function's log shows the right status,
# and the same request succeeds when sent again: application/problem+json
# with no detail. Stop 30 saw another (`GET /api/v1/openapi.json`, once in
# many runs; the function logged 200, the gateway 500 after 6 ms; its body
# was not kept). The one other 500 the gateway's source makes for an
# answered invocation passes the function's API Gateway response through
# raw — a JSON object with "statusCode" — when the invocation's status is
# lost (trigger_router.rs: `.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)`),
# so that shape is retried too, and a failing assertion prints the body.
# This service never answers either shape, so a retry of exactly those, for
# requests that are safe to repeat, cannot hide a fault of ours. Each retry
# is printed at the end with its shape.
EMULATOR_RETRIES = []


def emulator_fault(res):
    """The shape of the gateway's own 500 (see above), or None."""
    if res.status_code != 500:
        return None
    content_type = res.headers.get("content-type", "")
    if content_type.startswith("application/problem+json"):
        return "problem+json"
    try:
        body = res.json()
    except ValueError:
        return None
    return "raw invocation response" if isinstance(body, dict) and "statusCode" in body else None


def call(method, url, retry_safe=None, **kwargs):
    """An HTTP request through the gateway. GETs and requests carrying an
    Idempotency-Key are sent again (up to 3 times) after an emulator 500."""
    if retry_safe is None:
        retry_safe = method == "GET" or "Idempotency-Key" in kwargs.get("headers", {})
    kwargs.setdefault("timeout", 120)
    for _ in range(3):
        res = requests.request(method, url, **kwargs)
        fault = emulator_fault(res)
        if not (fault and retry_safe):
            return res
        EMULATOR_RETRIES.append(f"{method} {url}: {fault}")
    return res


def queue(name):
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive(name, matches, timeout=20.0):
    """Receives messages of queue `name` until one body satisfies `matches`;
    returns that message as Lambda's SQS event record would carry it, after
    deleting it from the queue (what the event source mapping does when the
    invocation reports no failure for it)."""
    url, arn = queue(name)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        out = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        for m in out.get("Messages", []):
            if matches(m["Body"]):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                return {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": ENV["AWS_REGION"],
                }
            # Not ours: back to the queue at once.
            seen.append(m["Body"][:300])
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    raise AssertionError(f"no matching message on {name} within {timeout} s; saw {seen[:3]}")


def s3_event_for(key):
    """Matches an S3 notification of `key` (event keys are URL-encoded)."""
    return lambda body: any(
        unquote_plus(r.get("s3", {}).get("object", {}).get("key", "")) == key for r in json.loads(body).get("Records", [])
    )


def invoke(function, payload, name):
    """`cargo lambda invoke FUNCTION --data-file FILE`; returns the JSON the
    function answered. The payload is kept under ARTIFACTS_DIR."""
    path = ARTIFACTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    out = subprocess.run(
        [ENV["CARGO_LAMBDA"], "lambda", "invoke", function, "--data-file", str(path),
         "--invoke-address", ENV["INVOKE_ADDRESS"], "--invoke-port", ENV["INVOKE_PORT"],
         "--output-format", "json"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, f"invoke {function} failed: {out.stderr}{out.stdout}"
    return json.loads(out.stdout)


def jpeg_size(data):
    """(width, height) from a JPEG's first SOFn marker."""
    i = 2
    while i < len(data):
        assert data[i] == 0xFF, "not at a marker"
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    raise AssertionError("no SOF marker")


def keys_of(avatar_id):
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ENV["AVATAR_BUCKET"]):
        found += [o["Key"] for o in page.get("Contents", []) if avatar_id in o["Key"]]
    return sorted(found)


class LambdaPath(unittest.TestCase):
    avatar_id = None
    direct_id = None

    def test_01_health_and_openapi_through_the_router(self):
        res = call("GET", f"{GATEWAY}/health")
        self.assertEqual(res.status_code, 200, res.text)
        self.assertEqual(res.json()["status"], "healthy")
        res = call("GET", f"{GATEWAY}/api/v1/openapi.json")
        self.assertEqual(res.status_code, 200, (res.headers, res.text[:500]))
        self.assertIn("/api/v1/avatars", res.json()["paths"])

    def test_02_multipart_upload_binary_body(self):
        res = call("POST", f"{GATEWAY}/api/v1/avatars", headers={"X-User-ID": USER, "Idempotency-Key": str(uuid.uuid4())},
                            files={"file": (PHOTO.name, PHOTO.read_bytes(), "image/jpeg")})
        self.assertEqual(res.status_code, 201, res.text)
        body = res.json()
        self.assertEqual(body["status"], "processing")
        type(self).avatar_id = body["id"]
        # Bad input through the gateway: the contract's JSON error, nothing stored.
        res = call("POST", f"{GATEWAY}/api/v1/avatars", headers={"X-User-ID": USER},
                            files={"file": ("notes.txt", b"plain text, not an image", "text/plain")}, retry_safe=True)
        self.assertEqual(res.status_code, 400)
        self.assertEqual(res.json()["error"], "Invalid file format")
        res = call("POST", f"{GATEWAY}/api/v1/avatars", files={"file": ("a.jpg", PHOTO.read_bytes())}, retry_safe=True)
        self.assertEqual(res.status_code, 401)
        self.assertEqual(res.json()["error"], "Unauthorized")

    def test_03_thumbnail_invoked_with_the_captured_s3_event(self):
        key = f"originals/{USER}/{self.avatar_id}"
        record = receive(ENV["UPLOAD_QUEUE"], s3_event_for(key))
        poison = dict(record, messageId="poison-1", receiptHandle="poison-1", body="not an S3 event")
        answer = invoke("thumbnail", {"Records": [record, poison]}, "thumbnail-event")
        # Partial batch response: only the poison message is reported.
        self.assertEqual(answer, {"batchItemFailures": [{"itemIdentifier": "poison-1"}]})
        meta = call("GET", f"{GATEWAY}/api/v1/avatars/{self.avatar_id}/metadata").json()
        self.assertEqual(meta["status"], "ready")
        self.assertEqual(
            keys_of(self.avatar_id),
            sorted([key] + [f"variants/{USER}/{self.avatar_id}/{s}x{s}.jpg" for s in (100, 300, 1200)]),
        )

    def test_04_thumbnail_bytes_and_conditional_get(self):
        res = call("GET", f"{GATEWAY}/api/v1/avatars/{self.avatar_id}", params={"size": "300x300"})
        self.assertEqual(res.status_code, 200)
        self.assertEqual(res.headers["content-type"], "image/jpeg")
        stored = s3.get_object(Bucket=ENV["AVATAR_BUCKET"], Key=f"variants/{USER}/{self.avatar_id}/300x300.jpg")
        # The base64 round trip through the runtime API leaves the bytes intact.
        self.assertEqual(res.content, stored["Body"].read())
        self.assertEqual(jpeg_size(res.content), (300, 300))
        etag = res.headers["etag"]
        res = call("GET", f"{GATEWAY}/api/v1/avatars/{self.avatar_id}", params={"size": "300x300"},
                           headers={"If-None-Match": etag})
        self.assertEqual(res.status_code, 304)
        self.assertEqual(res.content, b"")

    def test_05_large_original_redirects_to_a_presigned_get(self):
        res = call("GET", f"{GATEWAY}/api/v1/avatars/{self.avatar_id}", params={"size": "original"},
                           allow_redirects=False)
        self.assertEqual(res.status_code, 307, res.text)
        self.assertEqual(res.headers["cache-control"], "no-store")
        location = res.headers["location"]
        self.assertIn("X-Amz-Signature=", location)
        original = requests.get(location, timeout=60)
        self.assertEqual(original.status_code, 200)
        self.assertGreater(len(original.content), int(ENV["REDIRECT_ABOVE_BYTES"]))
        self.assertEqual(jpeg_size(original.content), (2560, 1600))

    def test_06_direct_upload_validated_from_its_storage_event(self):
        data = (CORPUS / "p07_art_sway.png").read_bytes()
        res = call("POST", f"{GATEWAY}/api/v1/avatars/uploads", headers={"X-User-ID": USER},
                            json={"content_type": "image/png", "content_length": len(data)}, retry_safe=True)
        self.assertEqual(res.status_code, 201, res.text)
        body = res.json()
        direct_id, upload = body["id"], body["upload"]
        put = requests.put(upload["url"], data=data, headers=upload["headers"], timeout=60)
        self.assertEqual(put.status_code, 200, put.text)
        incoming = f"uploads/{USER}/{direct_id}"
        record = receive(ENV["UPLOAD_QUEUE"], s3_event_for(incoming))
        self.assertEqual(invoke("thumbnail", {"Records": [record]}, "direct-upload-event"), {"batchItemFailures": []})
        # Accepting it stored the original, whose own event renders the thumbnails.
        original = f"originals/{USER}/{direct_id}"
        record = receive(ENV["UPLOAD_QUEUE"], s3_event_for(original))
        self.assertEqual(invoke("thumbnail", {"Records": [record]}, "direct-original-event"), {"batchItemFailures": []})
        meta = call("GET", f"{GATEWAY}/api/v1/avatars/{direct_id}/metadata").json()
        self.assertEqual(meta["status"], "ready")
        self.assertEqual(meta["mime_type"], "image/png")
        self.assertNotIn(incoming, keys_of(direct_id))
        type(self).direct_id = direct_id

    def test_07_delete_then_purge_from_the_delete_queue(self):
        res = call("DELETE", f"{GATEWAY}/api/v1/avatars/{self.avatar_id}", headers={"X-User-ID": "mallory"}, retry_safe=True)
        self.assertEqual(res.status_code, 403)
        self.assertEqual(res.json()["error"], "Forbidden")
        res = call("DELETE", f"{GATEWAY}/api/v1/avatars/{self.avatar_id}", headers={"X-User-ID": USER})
        self.assertEqual(res.status_code, 204, res.text)
        res = call("GET", f"{GATEWAY}/api/v1/avatars/{self.avatar_id}")
        self.assertEqual(res.status_code, 404)
        self.assertEqual(res.json()["error"], "Avatar not found")
        self.assertEqual(len(keys_of(self.avatar_id)), 4, "soft delete keeps the objects until the purge")
        record = receive(ENV["DELETE_QUEUE"], lambda body: json.loads(body).get("avatar_id") == self.avatar_id)
        self.assertEqual(invoke("purge", {"Records": [record]}, "purge-event"), {"batchItemFailures": []})
        self.assertEqual(keys_of(self.avatar_id), [])

    def test_08_scheduled_sweep(self):
        # An orphan object under the service's prefixes, as a crash would
        # leave (ORPHAN_GRACE_SECONDS=0 here, so it is old enough at once).
        orphan = str(uuid.uuid4())
        s3.put_object(Bucket=ENV["AVATAR_BUCKET"], Key=f"variants/{USER}/{orphan}/100x100.jpg", Body=b"x")
        scheduled = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                     "source": "aws.events", "account": "000000000000", "time": "2026-11-21T00:00:00Z",
                     "region": ENV["AWS_REGION"], "resources": [], "detail": {"sweep": True}}
        report = invoke("purge", scheduled, "scheduled-sweep")
        self.assertGreaterEqual(report["orphan_objects"], 1)
        self.assertEqual(keys_of(orphan), [])
        # The direct upload survived the sweep.
        self.assertEqual(call("GET", f"{GATEWAY}/api/v1/avatars/{self.direct_id}/metadata").status_code, 200)
        # The documented one-off backfill invocation (README, "Backfill"):
        # every ready avatar here has every configured size and its
        # ThumbHash, so nothing is sent, and the answer is the backfill's.
        report = invoke("purge", {"backfill": True, "per_second": 50, "limit": 100}, "backfill")
        self.assertEqual(report, {"enqueued": 0, "complete": True})

    def test_09_metrics_are_embedded_metric_format_lines(self):
        """On Lambda the functions write their metrics as CloudWatch EMF
        lines after each invocation: the same names as /metrics in HTTP
        mode (telemetry/src/metrics.rs), namespace Avatars, dimensioned by
        function and by the metric's labels."""
        names = set(re.findall(r'pub const [A-Z_]+: &str = "([a-z_]+)";',
                               (ROOT / "telemetry/src/metrics.rs").read_text()))
        documents = []
        for line in (ARTIFACTS / "watch.log").read_text().splitlines():
            line = line[line.find("{"):] if "{" in line else ""
            try:
                document = json.loads(line)
            except ValueError:
                continue
            if isinstance(document, dict) and "_aws" in document:
                documents.append(document)
        self.assertTrue(documents, "no EMF line in the functions' output")
        seen = {}
        for document in documents:
            (directive,) = document["_aws"]["CloudWatchMetrics"]
            self.assertEqual(directive["Namespace"], "Avatars")
            self.assertIsInstance(document["_aws"]["Timestamp"], int)
            for dimensions in directive["Dimensions"]:
                for dimension in dimensions:
                    self.assertIn(dimension, document)
            for metric in directive["Metrics"]:
                self.assertIn(metric["Name"], document)
                seen.setdefault(metric["Name"], set()).add(document["function"])
        self.assertLessEqual(set(seen), names, "EMF names that metrics.rs does not define")
        for name, function in [("http_server_request_duration_seconds", "upload"),
                               ("avatars_uploads_total", "upload"),
                               ("avatars_queue_messages_total", "thumbnail"),
                               ("avatars_variants_rendered_total", "thumbnail"),
                               ("avatars_pipeline_stage_seconds", "thumbnail")]:
            self.assertIn(function, seen.get(name, set()), f"{name} from {function}: {seen}")


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    print(f"emulator 500s retried: {len(EMULATOR_RETRIES)} {EMULATOR_RETRIES}")
    raise SystemExit(0 if result.wasSuccessful() else 1)
