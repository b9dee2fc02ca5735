"""Every PromQL expression of the dashboard and of the alert rules returns a
series from a real Prometheus scraping a real run (scripts/observability-tests.sh).

The run: uploads of the test images until they are ready, reads (200, 304,
a variant rendered on demand, metadata, the list), a rejected upload, a
delete until purged, and a message that is not an S3 event, which fails
both its deliveries and lands in the dead-letter queue. Then, for each
expression (an alert's without its final threshold, which by design
returns nothing while the alert is silent): at least one series. And the
dead-lettered message must set DeadLetterQueueNotEmpty pending (its `for`
is a minute) and ThumbnailFailures firing.

Environment: SERVICE_URL, UPLOAD_QUEUE, PROMETHEUS_URL, METRICS_URL,
CORPUS_DIR, DASHBOARDS, ALERTS; AWS_* as the stack exports them.
"""

import json
import os
import re
import sys
import time
from pathlib import Path

import boto3
import requests
import yaml

ENV = os.environ
SERVICE = ENV["SERVICE_URL"]
PROMETHEUS = ENV["PROMETHEUS_URL"]
CORPUS = Path(ENV["CORPUS_DIR"])
USER = "observer"


def log(*parts):
    print("[observability]", *parts, flush=True)


def wait(what, check, timeout=60):
    started = time.time()
    while True:
        value = check()
        if value:
            return value
        if time.time() - started > timeout:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.25)


def upload(name):
    with open(CORPUS / name, "rb") as f:
        res = requests.post(f"{SERVICE}/api/v1/avatars", headers={"X-User-ID": USER},
                            files={"file": (name, f)}, timeout=60)
    assert res.status_code == 201, (name, res.status_code, res.text)
    return res.json()["id"]


def status(avatar_id):
    res = requests.get(f"{SERVICE}/api/v1/avatars/{avatar_id}/metadata", timeout=10)
    return res.json().get("status") if res.status_code == 200 else None


def workload():
    ids = [upload(n) for n in ["j09_photo_eveningglow.jpg", "p10_art_arc_transparent.png", "w09_art_arc_alpha.webp"]]
    for avatar_id in ids:
        wait(f"{avatar_id} ready", lambda: status(avatar_id) == "ready")
    first = ids[0]
    res = requests.get(f"{SERVICE}/api/v1/avatars/{first}?size=300x300", timeout=10)
    assert res.status_code == 200
    etag = res.headers["etag"]
    res = requests.get(f"{SERVICE}/api/v1/avatars/{first}?size=300x300", headers={"If-None-Match": etag}, timeout=10)
    assert res.status_code == 304
    # A format nobody asked for yet: rendered on demand.
    assert requests.get(f"{SERVICE}/api/v1/avatars/{first}?size=100x100&format=webp", timeout=30).status_code == 200
    assert requests.get(f"{SERVICE}/api/v1/users/{USER}/avatar?size=100x100", timeout=10).status_code == 200
    assert requests.get(f"{SERVICE}/api/v1/users/{USER}/avatars", timeout=10).status_code == 200
    # A rejected upload (not an image).
    res = requests.post(f"{SERVICE}/api/v1/avatars", headers={"X-User-ID": USER},
                        files={"file": ("x.txt", b"not an image")}, timeout=10)
    assert res.status_code == 400
    res = requests.delete(f"{SERVICE}/api/v1/avatars/{ids[2]}", headers={"X-User-ID": USER}, timeout=10)
    assert res.status_code == 204
    # A message no handler can read: retried, then dead-lettered.
    sqs = boto3.client("sqs", endpoint_url=ENV["AWS_ENDPOINT_URL"], region_name=ENV["AWS_REGION"])
    url = sqs.get_queue_url(QueueName=ENV["UPLOAD_QUEUE"])["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="this is not an S3 event")
    dlq = sqs.get_queue_url(QueueName=ENV["UPLOAD_QUEUE"] + "-dlq")["QueueUrl"]

    def dead_lettered():
        attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"]) > 0
    wait("the poison message in the dead-letter queue", dead_lettered)


def query(expr):
    res = requests.get(f"{PROMETHEUS}/api/v1/query", params={"query": expr}, timeout=10)
    body = res.json()
    if body.get("status") != "success":
        sys.exit(f"query failed: {expr}\n{json.dumps(body)}")
    return body["data"]["result"]


def without_threshold(expr):
    """An alert's expression without its final comparison (`> 0.1`)."""
    return re.sub(r"\s*(>|<|>=|<=|==|!=)\s*[0-9.e+-]+\s*$", "", expr.strip())


def expressions():
    found = []
    for path in sorted(Path(ENV["DASHBOARDS"]).glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.name}: {panel['title']}", target["expr"]))
    rules = yaml.safe_load(Path(ENV["ALERTS"]).read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            found.append((f"alerts.yml: {rule['alert']}", without_threshold(rule["expr"])))
    return found


def main():
    # Counters must be seen before the workload moves them, or increase()
    # over the run has nothing to compare with.
    wait("Prometheus' first scrape", lambda: query('up{job="avatars"} == 1'), timeout=30)
    workload()
    log("workload done; waiting for scrapes to cover it")
    # Rates over [5m] need two samples of the counters after the workload.
    wait("a scrape after the workload", lambda: query('avatars_queue_depth{queue="upload-dlq"} > 0'), timeout=30)
    time.sleep(3)
    empty = []
    checked = expressions()
    for where, expr in checked:
        result = query(expr)
        if not result:
            empty.append((where, expr))
        else:
            log(f"{len(result):3} series  {where}")
    if empty:
        for where, expr in empty:
            print(f"EMPTY  {where}\n       {expr}", file=sys.stderr)
        sys.exit(f"{len(empty)} of {len(checked)} expressions returned no series")

    seen = []

    def dlq_alert():
        rules = requests.get(f"{PROMETHEUS}/api/v1/rules", timeout=10).json()["data"]["groups"]
        states = {r["name"]: r["state"] for g in rules for r in g["rules"]}
        if not seen or seen[-1] != states:
            seen.append(states)
            log("alert states now:", states)
        fired = (states.get("DeadLetterQueueNotEmpty") in ("pending", "firing")
                 and states.get("ThumbnailFailures") == "firing")
        return fired and states
    states = wait("DeadLetterQueueNotEmpty pending and ThumbnailFailures firing", dlq_alert, timeout=60)
    log("alert states:", ", ".join(f"{k}={v}" for k, v in sorted(states.items())))
    sample = [line for line in requests.get(ENV["METRICS_URL"], timeout=10).text.splitlines()
              if line.startswith(("avatars_uploads_total", "avatars_queue_messages_total{queue=\"upload\"",
                                  "avatars_processing_seconds_count", "avatars_queue_depth"))]
    log("a few lines of /metrics:\n  " + "\n  ".join(sample))
    log(f"all {len(checked)} expressions return series")


if __name__ == "__main__":
    main()
