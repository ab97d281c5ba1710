"""The live stream, the spiral's boundary and exports, in real Chromium."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def test_dropped_socket_shows_banner_and_catches_up_without_losing_a_point(dashboard):
    api, page = dashboard.api, dashboard.page
    run = api.start(name="flaky wire", delay_ms=15.0)
    dashboard.open_run(run["id"])
    dashboard.wait_for(lambda: len(dashboard.series("loss", "train_loss")) >= 5)

    page.context.set_offline(True)
    page.locator("#conn-banner").wait_for(state="visible")
    while_offline = len(dashboard.series("loss", "train_loss"))
    api.wait_step(run["id"], api.run(run["id"])["step"] + 30)  # the run goes on meanwhile
    assert len(dashboard.series("loss", "train_loss")) == while_offline
    page.context.set_offline(False)
    page.locator("#conn-banner").wait_for(state="hidden")

    api.control(run["id"], "pause")
    api.wait_status(run["id"], "paused")
    expected = [p[0] for p in api.points(run["id"], "train_loss")]
    dashboard.wait_for(lambda: [s for s, _ in dashboard.series("loss", "train_loss")] == expected)
    assert len(expected) > while_offline + 30
    dashboard.forget_errors("WebSocket|ERR_INTERNET_DISCONNECTED")


def test_spiral_draws_its_decision_boundary_live(dashboard):
    run = dashboard.api.start(name="boundary", delay_ms=5.0)
    dashboard.open_run(run["id"])
    page = dashboard.page
    canvas = page.locator("#boundary-canvas")
    first = dashboard.wait_for(lambda: canvas.get_attribute("data-step"))
    dashboard.wait_for(lambda: int(canvas.get_attribute("data-step")) > int(first))
    assert page.locator("#boundary-waiting").is_hidden()
    colours = page.evaluate(
        """() => {
            const c = document.getElementById('boundary-canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const seen = new Set();
            for (let i = 0; i < d.length; i += 4 * 97) {
                seen.add(`${d[i] >> 4},${d[i + 1] >> 4},${d[i + 2] >> 4}`);
            }
            return seen.size;
        }"""
    )
    assert colours > 10  # shaded regions and points, not a blank canvas


def test_csv_has_every_point_and_png_is_a_png(dashboard):
    api, page = dashboard.api, dashboard.page
    run = api.start(name="export me", delay_ms=2.0)
    api.wait_step(run["id"], 300)
    api.control(run["id"], "stop")
    api.wait_status(run["id"], "stopped")
    dashboard.open_run(run["id"])

    with page.expect_download() as download:
        page.click("#export-csv")
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows[0] == ["step", "key", "value", "wall_time"]
    keys = ("train_loss", "val_loss", "val_accuracy", "lr")
    stored = sum(len(api.points(run["id"], k)) for k in keys)
    assert len(rows) - 1 == stored

    with page.expect_download() as download:
        page.locator("#chart-block-loss [data-png]").click()
    assert download.value.suggested_filename == "export me-loss.png"
    assert Path(download.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
