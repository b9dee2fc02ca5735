"""Locust scenario of `make loadtest`: uploaders of large real photos.

Each simulated user uploads a photo (multipart `POST /api/v1/avatars`),
then polls its metadata until it is `ready` and reports upload → ready as
its own request type, measured from the row's own timestamps
(`updated_at` − `created_at` of the ready avatar: the service's clock, not
the poll's granularity). The run stops by itself once `UPLOADS_TOTAL`
uploads have settled (or `--run-time` passes).

Environment: PHOTOS (paths, `:`-separated), UPLOADS_TOTAL, LOADTEST_USER.
"""

import itertools
import os
import uuid
import threading
import time
from datetime import datetime
from pathlib import Path

import gevent
from locust import FastHttpUser, events, task

PHOTOS = [Path(p) for p in os.environ["PHOTOS"].split(":")]
BODIES = [(p.name, p.read_bytes()) for p in PHOTOS]
TOTAL = int(os.environ.get("UPLOADS_TOTAL", "40"))
USER = os.environ.get("LOADTEST_USER", "loadtest")
_next = itertools.count()
_settled = itertools.count(1)
_lock = threading.Lock()


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Uploader(FastHttpUser):
    """Uploads, then waits for ready."""

    @task
    def upload_and_wait(self) -> None:
        with _lock:
            n = next(_next)
        if n >= TOTAL:
            # Every upload is taken; idle until the runner stops.
            time.sleep(0.5)
            return
        name, photo = BODIES[n % len(BODIES)]
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + photo + f"\r\n--{boundary}--\r\n".encode()
        with self.client.post(
            "/api/v1/avatars",
            data=body,
            headers={"X-User-ID": USER, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            name="upload",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                self._settle()
                return
            avatar_id = response.json()["id"]
        started = time.monotonic()
        while time.monotonic() - started < 120:
            meta = self.client.get(f"/api/v1/avatars/{avatar_id}/metadata", name="metadata (poll)").json()
            if meta["status"] != "processing":
                if meta["status"] == "ready":
                    ms = (_stamp(meta["updated_at"]) - _stamp(meta["created_at"])) * 1000
                    events.request.fire(request_type="POST", name="upload → ready", response_time=ms,
                                        response_length=0, exception=None, context={})
                else:
                    events.request.fire(request_type="POST", name="upload → ready", response_time=0,
                                        response_length=0, exception=RuntimeError(meta["status"]), context={})
                break
            # Polls cost the server CPU too: 4 a second is enough, since
            # upload → ready comes from the row's timestamps.
            time.sleep(0.25)
        self._settle()

    def _settle(self) -> None:
        if next(_settled) >= TOTAL:
            # Stop a moment later, from outside this user, so the last
            # requests are counted before the summary is written.
            gevent.spawn_later(1.0, self.environment.runner.quit)
