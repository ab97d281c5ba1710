"""SIGTERM and SIGINT end the desktop app as closing its window does; no display, no window."""

from __future__ import annotations

import signal
import urllib.request

import pytest

from lernkurve.store.database import Database
from lernkurve.store.models import RunRow


def start_run(app) -> int:
    run = app.api("POST", "/api/runs", {"task": "spiral", "hparams": {"delay_ms": 20.0}})
    app.wait_api(f"/api/runs/{run['id']}", lambda r: r["status"] == "running" and r["step"] > 5)
    return run["id"]


def run_status(data_dir, run_id: int) -> str:
    db = Database(data_dir / "lernkurve.db")
    with db.Session() as session:
        status = session.get(RunRow, run_id).status
    db.dispose()
    return status


@pytest.mark.desktop
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_closes_the_window_and_stops_runs(launch, display, data_dir, signum):
    app = launch(display=display)
    app.wait_running()
    app.expect(r"dashboard ready after")
    run_id = start_run(app)
    app.signal(signum)
    code, waited = app.wait_exit(timeout=5)
    assert code == 0, app.stderr()[-3000:]
    assert waited <= 2.0
    assert app.leftovers() == []
    assert run_status(data_dir, run_id) == "stopped"


def test_without_a_display_it_serves_headless(launch, data_dir):
    app = launch()  # no DISPLAY, no WAYLAND_DISPLAY
    url = app.expect(r"running at (http://127\.0\.0\.1:\d+)/\?token=(\S+)")
    app.base_url = url.group(1)
    stderr_lines = [line for line in app.stderr().splitlines() if line.strip()]
    assert len(stderr_lines) == 1 and "no display" in stderr_lines[0], stderr_lines
    assert "Traceback" not in app.stderr()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with browser.open(f"{url.group(1)}/?token={url.group(2)}", timeout=10) as page:
        assert b"<title>Lernkurve</title>" in page.read()  # the token became a cookie
    run_id = start_run(app)
    app.signal(signal.SIGTERM)
    code, waited = app.wait_exit(timeout=5)
    assert code == 0, app.stderr()[-3000:]
    assert waited <= 2.0
    assert app.leftovers() == []
    assert run_status(data_dir, run_id) == "stopped"
