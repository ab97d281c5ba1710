"""The app's REST API in this process: the same routes, validation and events as the page."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from lernkurve.cli_commands.errors import CliError
from lernkurve.store.database import Database

CLIENT = "cli"  # the X-Lernkurve-By mark: the run's events for our commands say "by": "cli"


class Api:
    """The app on a database, called through Flask's test client (no server, no worker)."""

    def __init__(self, db: str | None, client: str = CLIENT) -> None:
        from lernkurve.web.app import create_app

        token = secrets.token_urlsafe(24)
        self.app = create_app({"DATABASE": db, "TOKEN": token})
        self.client = self.app.test_client()
        self.headers = {"Authorization": f"Bearer {token}", "X-Lernkurve-By": client}

    @property
    def db(self) -> Database:
        """The app's database (the reads the API has no route for use it directly)."""
        return self.app.extensions["lernkurve"].db

    def call(
        self, method: str, path: str, body: dict | None = None, *, why: str = "", **query: Any
    ) -> Any:
        """The answer's JSON (or text); a CliError with the API's message on a 4xx/5xx.
        ``why``: the reason a steer gives, recorded with its event."""
        query = {k: v for k, v in query.items() if v is not None}
        headers = {**self.headers, **({"X-Lernkurve-Reason": quote(why)} if why else {})}
        response = self.client.open(
            "/api" + path, method=method, headers=headers, json=body, query_string=query
        )
        if response.status_code >= 400:
            raise CliError(_message(response))
        if response.is_json:
            return response.get_json()
        return response.get_data(as_text=True)

    def stream(self, path: str) -> Iterator[bytes]:
        """A GET's body in chunks as the route streams it; a CliError on a 4xx/5xx is raised
        here, before a caller has opened anything to write the chunks to."""
        response = self.client.open(
            "/api" + path, method="GET", headers=self.headers, buffered=False
        )
        if response.status_code >= 400:
            raise CliError(_message(response))
        return _chunks(response)

    def run(self, run_id: int) -> dict:
        """The run's row, or a CliError naming the id."""
        return self.call("GET", f"/runs/{run_id}")

    def close(self) -> None:
        self.db.dispose()


def _chunks(response) -> Iterator[bytes]:
    try:
        for chunk in response.response:
            yield chunk.encode() if isinstance(chunk, str) else chunk
    finally:
        response.close()


def _message(response) -> str:
    """The API's error message, or the status when it gave none."""
    body = response.get_json(silent=True) or {}
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return f"the app answered {response.status}"
