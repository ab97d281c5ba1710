"""The server process: request timeouts, a bad database at start, IPv6 loopback, clean exit."""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading

import pytest

from lernkurve.launch import build_app, parse_args
from lernkurve.web.app import start_app
from lernkurve.web.server import ServerThread
from support import ROOT, TOKEN, Api, wait_for


def test_half_open_connections_do_not_hold_threads(db_path, data_dir):
    app = start_app(
        build_app(
            {
                "DATABASE": str(db_path),
                "TOKEN": TOKEN,
                "START_WORKER": False,
                "REQUEST_TIMEOUT": 1.5,
            }
        )
    )
    server = ServerThread(app, "127.0.0.1", 0).start()
    baseline = threading.active_count()
    sockets = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(50)]
    for sock in sockets[::2]:
        sock.sendall(b"GET /api/health HTTP/1.1\r\n")  # half a request, then silence
    try:
        wait_for(lambda: threading.active_count() >= baseline + 40, timeout=5)  # one a socket
        wait_for(lambda: threading.active_count() <= baseline + 2, timeout=30)
    finally:
        for sock in sockets:
            sock.close()
        app.extensions["lernkurve"].shutdown()
        server.stop()


def serve_process(tmp_path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "webserver.py", "--db", str(tmp_path / "app.db"), "--token", TOKEN]
    return subprocess.Popen(
        [*command, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def make_corrupt(tmp_path):
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"this is not a database" * 500)
    return str(path)


def make_directory(tmp_path):
    (tmp_path / "folder.db").mkdir()
    return str(tmp_path / "folder.db")


def make_path_through_a_file(tmp_path):
    (tmp_path / "plain-file").write_text("x")
    return str(tmp_path / "plain-file" / "app.db")


def make_read_only(tmp_path):
    path = tmp_path / "ro.db"
    sqlite3.connect(path).close()
    return f"sqlite:///file:{path}?mode=ro&uri=true"  # read-only even for root


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (make_corrupt, "file is not a database"),
        (make_directory, "unable to open database file"),
        (make_path_through_a_file, "not a folder"),
        (make_read_only, "readonly database"),
    ],
)
def test_a_bad_database_is_one_line_and_a_failing_exit(tmp_path, make, words):
    command = [sys.executable, "webserver.py", "--db", make(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("lernkurve: cannot open") and words in done.stderr


@pytest.mark.parametrize("host", ["::1", "[::1]", "127.0.0.1", "localhost"])
def test_loopback_hosts_are_accepted_by_the_command_line(host):
    assert parse_args(["--host", host]).host == host.strip("[]")


def test_a_public_host_is_refused_by_the_command_line(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--host", "0.0.0.0"])
    assert "loopback" in capsys.readouterr().err


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_the_app_serves_on_ipv6_loopback(db_path, data_dir):
    app = start_app(build_app({"DATABASE": str(db_path), "TOKEN": TOKEN, "START_WORKER": False}))
    server = ServerThread(app, "::1", 0).start()
    try:
        assert server.base_url.startswith("http://[::1]:")
        assert Api(server.base_url).get("/api/health").get_json()["status"] == "ok"
    finally:
        app.extensions["lernkurve"].shutdown()
        server.stop()


def stop(process: subprocess.Popen) -> int:
    """SIGTERM, then the exit code. How fast it exits is benchmarks/bench_api.py's to say; the
    wait is long enough for a loaded machine and ends only a hang."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()  # closes the pipes, also when the wait fails


def test_sigterm_exits_cleanly_when_idle(tmp_path):
    process = serve_process(tmp_path)
    assert "running at" in process.stdout.readline()
    assert stop(process) == 0


def test_sigterm_exits_cleanly_with_a_run_and_stops_it(tmp_path):
    process = serve_process(tmp_path)
    base_url = re.search(r"(http://\S+)/\?token", process.stdout.readline()).group(1)
    api = Api(base_url)
    api.wait_step(api.start("spiral", epochs=1000)["id"], 5, timeout=60)
    assert stop(process) == 0
    with sqlite3.connect(tmp_path / "app.db") as conn:
        assert conn.execute("SELECT status FROM runs").fetchone() == ("stopped",)
