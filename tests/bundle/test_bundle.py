"""The one-file executable: built by `make dist`, started headless, trains a run to the end."""

from __future__ import annotations

import re
import signal
import urllib.request
from pathlib import Path

import pytest

from lernkurve.web.pageassets import page_assets

# The first test of a session waits for `make dist` (minutes when the file is out of date).
pytestmark = [pytest.mark.bundle, pytest.mark.timeout(40 * 60)]

ROOT = Path(__file__).resolve().parents[2]


def folder_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``folder`` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in folder.rglob("*")
    }


def test_executable_serves_the_bundle_and_trains_headless(run_executable, data_dir, tmp_path):
    app = run_executable()
    url = app.expect(r"running at (http://127\.0\.0\.1:\d+)/\?token=(\S+)", timeout=300)
    app.base_url, token = url.groups()
    assert "unpacked the app once" in app.stderr()
    (unpacked,) = (tmp_path / "cache").glob("app-*/")
    internal = unpacked / "_internal"
    before = folder_state(unpacked)

    # The page and every file it loads come from the unpacked bundle.
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with browser.open(f"{app.base_url}/?token={token}", timeout=10) as page:
        html = page.read().decode()
    assert "<title>Lernkurve</title>" in html
    loaded = re.findall(r'(?:src|href)="(/static/[^"?]+)', html)
    assert any("node_modules/chart.js" in path for path in loaded)
    for path in loaded:
        with browser.open(app.base_url + path, timeout=10) as response:
            assert response.read() == (internal / path.lstrip("/")).read_bytes(), path
    bundled = sorted(
        str(p.relative_to(internal / "static"))
        for p in internal.glob("static/node_modules/**/*")
        if p.is_file()
    )
    assert bundled == page_assets(ROOT)  # only what the pages load, not all of node_modules

    # A short training runs to its end in the bundled torch; a checkpoint lands in the data dir.
    hparams = {"epochs": 3, "delay_ms": 20.0}  # 114 steps in about 3 s
    run = app.api("POST", "/api/runs", {"task": "spiral", "hparams": hparams})
    app.wait_api(f"/api/runs/{run['id']}", lambda r: r["step"] > 2, timeout=120)
    app.api("POST", f"/api/runs/{run['id']}/control", {"action": "checkpoint"})
    checkpoints = app.wait_api(f"/api/runs/{run['id']}/checkpoints", lambda c: c["checkpoints"])
    assert all(Path(c["path"]).is_relative_to(data_dir) for c in checkpoints["checkpoints"])
    done = app.wait_api(f"/api/runs/{run['id']}", lambda r: r["status"] == "completed", 120)
    assert done["step"] == done["total_steps"]
    metrics = app.api("GET", f"/api/runs/{run['id']}/metrics?keys=train_loss,val_accuracy")
    assert len(metrics["series"]["train_loss"]) == done["step"]
    assert (data_dir / "lernkurve.db").is_file()

    app.signal(signal.SIGTERM)
    code, waited = app.wait_exit(timeout=5)
    assert code == 0, app.stderr()[-3000:]
    assert waited <= 2.0
    assert app.leftovers() == []
    assert folder_state(unpacked) == before  # it never writes into its own folder

    # The next launch starts from the unpacked folder, without unpacking again.
    again = run_executable()
    again.expect(r"running at http://127\.0\.0\.1:\d+/", timeout=60)
    assert "unpacked" not in again.stderr()
    again.signal(signal.SIGINT)
    assert again.wait_exit(timeout=5)[0] == 0


MAX_BYTES = 350_000_000  # the executable's hard limit (the optional extras stay out of it)


def test_the_executable_stays_within_its_size(executable):
    assert executable.stat().st_size <= MAX_BYTES, f"{executable.stat().st_size:,} bytes"
