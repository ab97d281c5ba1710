"""`python webserver.py`: clear refusals instead of tracebacks."""

from __future__ import annotations

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
