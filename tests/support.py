"""Helpers the tests share (imported as `support`; fixtures live in conftest.py)."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TOKEN = "test-token"


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.02):
    """Poll until predicate() is truthy; return its value or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


class Api:
    """The Flask test client with the token on every call."""

    def __init__(self, client) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    def __getattr__(self, method):
        def call(path, **kwargs):
            headers = {**self.headers, **kwargs.pop("headers", {})}
            return getattr(self.client, method)(path, headers=headers, **kwargs)

        return call

    def run(self, run_id: int) -> dict:
        return self.get(f"/api/runs/{run_id}").get_json()

    def start(self, task: str = "spiral", **hparams) -> dict:
        response = self.post("/api/runs", json={"task": task, "hparams": hparams})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def control(self, run_id: int, action: str):
        return self.post(f"/api/runs/{run_id}/control", json={"action": action})

    def wait_status(self, run_id: int, *statuses: str, timeout: float = 20.0) -> dict:
        return wait_for(lambda: (r := self.run(run_id))["status"] in statuses and r, timeout)

    def events(self, run_id: int, kind: str | None = None) -> list[dict]:
        events = self.get(f"/api/runs/{run_id}/events").get_json()["events"]
        return [e for e in events if kind is None or e["kind"] == kind]


class LiveServer:
    """The app served by the real threaded server on a free port, for raw HTTP (chunked bodies,
    half-open connections) that the test client cannot send."""

    def __init__(self, app) -> None:
        from lernkurve.server import ServerThread

        self.thread = ServerThread(app, "127.0.0.1", 0).start()
        self.port = self.thread.port

    def post_chunked(self, path: str, chunks: list[bytes]) -> tuple[int, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.putrequest("POST", path)
        connection.putheader("Authorization", f"Bearer {TOKEN}")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        for chunk in [*chunks, b""]:
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        response = connection.getresponse()
        answer = json.loads(response.read())
        connection.close()
        return response.status, answer

    def stop(self) -> None:
        self.thread.stop()
