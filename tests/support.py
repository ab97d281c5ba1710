"""Helpers the tests share (imported as `support`; fixtures live in conftest.py)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

TOKEN = "test-token"


def open_sqlite(path, **kwargs) -> sqlite3.Connection:
    """A plain sqlite3 connection, as a user's own program opens it, that can read the
    ``metrics`` view (its functions registered: lernkurve.store.liteblocks)."""
    from lernkurve.store import liteblocks

    conn = sqlite3.connect(path, **kwargs)
    liteblocks.register(conn)
    return conn


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.02):
    """Poll until predicate() is truthy; return its value or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def _json_bytes(value) -> bytes:
    return json.dumps(value).encode()


class HttpResponse:
    """An answer over HTTP with the parts of Flask's test response the tests read."""

    def __init__(self, status: int, headers, data: bytes) -> None:
        self.status_code, self.headers, self.data = status, headers, data

    def get_data(self, as_text: bool = False):
        return self.data.decode() if as_text else self.data

    def get_json(self):
        return json.loads(self.data) if self.data else None


class HttpClient:
    """Flask's test-client ``open`` over real HTTP, to a server at ``base`` (any process)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def open(self, path, method="GET", headers=None, json=None, data=None, content_type=None):
        headers = dict(headers or {})
        if json is not None:
            data, content_type = _json_bytes(json), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        if isinstance(data, str):
            data = data.encode()
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return HttpResponse(response.status, response.headers, response.read())
        except urllib.error.HTTPError as err:
            with err:
                return HttpResponse(err.code, err.headers, err.read())


class Api:
    """The REST API with the token on every call: in this process (a Flask app or its test
    client) or over HTTP (a base URL). Both answer with Flask's test-response interface."""

    def __init__(self, target, token: str = TOKEN) -> None:
        if isinstance(target, str):
            target = HttpClient(target)
        elif hasattr(target, "test_client"):
            target = target.test_client()
        self.client = target
        self.headers = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method.upper(), headers=headers, **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def run(self, run_id: int) -> dict:
        return self.get(f"/api/runs/{run_id}").get_json()

    def runs(self) -> list[dict]:
        return self.get("/api/runs").get_json()["runs"]

    def start(self, task: str = "spiral", name: str | None = None, **hparams) -> dict:
        body = {"task": task, "hparams": hparams, **({"name": name} if name else {})}
        response = self.post("/api/runs", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def control(self, run_id: int, action: str):
        return self.post(f"/api/runs/{run_id}/control", json={"action": action})

    def events(self, run_id: int, kind: str | None = None) -> list[dict]:
        events = self.get(f"/api/runs/{run_id}/events").get_json()["events"]
        return [e for e in events if kind is None or e["kind"] == kind]

    def points(self, run_id: int, key: str) -> list[list]:
        """[[step, value, wall_time], ...] of one metric."""
        series = self.get(f"/api/runs/{run_id}/metrics?keys={key}").get_json()["series"]
        return series.get(key, [])

    def checkpoints(self, run_id: int) -> list[dict]:
        return self.get(f"/api/runs/{run_id}/checkpoints").get_json()["checkpoints"]

    def wait_status(self, run_id: int, *statuses: str, timeout: float = 20.0) -> dict:
        return wait_for(lambda: (r := self.run(run_id))["status"] in statuses and r, timeout)

    def wait_step(self, run_id: int, at_least: int, timeout: float = 30.0) -> dict:
        return wait_for(lambda: (r := self.run(run_id))["step"] >= at_least and r, timeout)

    def wait_logged(self, run_id: int, key: str, timeout: float = 30.0) -> list[list]:
        """The points of ``key`` once the run has logged one: a decision (lr test, race,
        autopilot) on a metric the run never logged is refused."""
        return wait_for(lambda: self.points(run_id, key), timeout)


class LiveServer:
    """The app served by the real threaded server on a free port, for raw HTTP (chunked bodies,
    half-open connections) that the test client cannot send."""

    def __init__(self, app) -> None:
        from lernkurve.web.server import ServerThread

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


def migrate_to(url: str, revision: str, down: bool = False) -> None:
    """Build a database with the migrations alone, up to ``revision`` (or down to it)."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from lernkurve.store.migrate import MIGRATIONS

    engine = create_engine(url)
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)
    engine.dispose()


def schema_differences(connection) -> list:
    """Alembic's differences between a database and the models, leaving out what the models
    create on other databases only (``ddl_if``) and the metric blocks (``metrics`` is a view over
    them on both stores: lernkurve.store.liteblocks, lernkurve.store.pgblocks)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from lernkurve.store.models import Base

    def for_this_database(item, name, kind, reflected, compare_to) -> bool:
        if kind == "table" and name in ("metrics", "metric_blocks"):
            return False  # a view over blocks on both stores (liteblocks, pgblocks)
        condition = getattr(item, "_ddl_if", None)
        return condition is None or condition.dialect in (None, connection.dialect.name)

    context = MigrationContext.configure(connection, opts={"include_object": for_this_database})
    return compare_metadata(context, Base.metadata)


PG_BIN = Path(os.environ.get("LERNKURVE_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_PACKAGE = "postgresql"  # the Debian package that holds initdb and postgres


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresCluster:
    """A throwaway PostgreSQL cluster on a free port, owned by an unprivileged user.

    initdb and postgres refuse to run as root: as root they run as the ``postgres`` user in a
    folder it owns; otherwise as ourselves. Trust authentication on 127.0.0.1 only (a test
    cluster that lives as long as the test session), fsync off unless ``durable`` (nothing
    must survive a test session).
    """

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable  # a server as shipped (fsync, synchronous commit): benchmarks
        if not (PG_BIN / "initdb").exists():
            raise FileNotFoundError(
                f"PostgreSQL not found in {PG_BIN}: install the Debian package "
                f"'{PG_PACKAGE}' (or set LERNKURVE_PG_BIN)"
            )
        self.as_root = os.geteuid() == 0
        self.folder = Path(tempfile.mkdtemp(prefix="lernkurve-pg-"))
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._databases = 0

    def _command(self, *args: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if self.as_root else list(args)

    def start(self) -> PostgresCluster:
        data = self.folder / "data"
        if self.as_root:
            shutil.chown(self.folder, "postgres", "postgres")
        subprocess.run(
            self._command(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
                          "-A", "trust", "-E", "UTF8", "--no-sync"),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        options += " -c max_connections=300"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        with open(self.folder / "server.log", "wb") as server_log:
            self.proc = subprocess.Popen(
                self._command(str(PG_BIN / "postgres"), "-D", str(data), *options.split()),
                stdout=subprocess.DEVNULL,
                stderr=server_log,
            )
        wait_for(self._ready, timeout=60, interval=0.1)
        return self

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError((self.folder / "server.log").read_text()[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                pass
        except OSError:
            return False
        try:
            self.execute("SELECT 1")
        except Exception:  # noqa: BLE001 - "the database system is starting up"
            return False
        return True

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self) -> tuple[str, str]:
        """A fresh, empty database: its URL and name (CREATE DATABASE: ~0.1 s)."""
        self._databases += 1
        name = f"t{os.getpid()}_{self._databases}"
        self.execute(f"CREATE DATABASE {name}")
        return self.url(name), name

    def drop_database(self, name: str) -> None:
        """Drop a test's database, ending any session still on it (a process the test left)."""
        self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # "Fast" shutdown ends every session. Signalled directly: runuser passes no SIGINT on.
            pid = int((self.folder / "data" / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class DistBuild:
    """`make dist` in the background from the start of a session that runs a bundle test:
    the build (minutes, mostly one core) goes on beside the other tests, which run first.

    Its exit status lands in a file, so that any process of the session (a pytest-xdist
    worker) can wait for it: ``attach(folder)`` with the folder the starter chose."""

    ENV = "LERNKURVE_DIST_BUILD"  # the folder, handed from xdist's controller to its workers

    def __init__(self, folder: Path, proc: subprocess.Popen | None = None) -> None:
        self.folder, self.proc = Path(folder), proc
        self.log_path, self.status_path = self.folder / "make-dist.log", self.folder / "status"
        self.started = time.monotonic()

    @classmethod
    def start(cls, folder: str | Path | None = None) -> DistBuild:
        folder = Path(folder or tempfile.mkdtemp(prefix="lernkurve-dist-"))
        script = (
            'make --no-print-directory dist > "$1" 2>&1; echo $? > "$2.part"; mv "$2.part" "$2"'
        )
        proc = subprocess.Popen(
            ["sh", "-c", script, "make-dist", folder / "make-dist.log", folder / "status"],
            cwd=ROOT, start_new_session=True,
        )  # fmt: skip
        return cls(folder, proc)

    @classmethod
    def attach(cls, folder: str | Path) -> DistBuild:
        """The build another process of this session started (or will start) in ``folder``."""
        return cls(folder)

    def wait(self, timeout: float) -> tuple[int, str, float]:
        """Its exit status, the end of its output, and seconds since it was waited for."""
        deadline = time.monotonic() + timeout
        while not self.status_path.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"make dist did not end within {timeout:.0f} s")
            time.sleep(0.5)
        returncode = int(self.status_path.read_text().strip() or 1)
        return returncode, self.log_path.read_text(errors="replace")[-8000:], self.elapsed()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:  # the session ended early:
            os.killpg(self.proc.pid, signal.SIGTERM)  # no half-built file left behind
            self.proc.wait(30)


DIST_BUILD = pytest.StashKey[DistBuild]()
