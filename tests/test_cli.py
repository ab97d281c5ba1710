"""`python webserver.py`: clear refusals instead of tracebacks."""

from __future__ import annotations

import socket
import subprocess
import sys

from support import ROOT


def run_server(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "webserver.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_a_non_loopback_host_is_refused():
    out = run_server("--host", "0.0.0.0")
    assert out.returncode == 2 and "loopback" in out.stderr and "Traceback" not in out.stderr


def test_a_busy_port_is_a_one_line_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_server("--port", str(port), "--db", str(tmp_path / "x.db"))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"Port {port} is in use by another program" in out.stderr
