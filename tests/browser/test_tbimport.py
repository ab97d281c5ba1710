"""Importing TensorBoard event files from the page: the runs appear in the sidebar, progress
shows while it runs, Cancel stops it, and a file that cannot be imported is named."""

from __future__ import annotations

import os
import queue

import pytest

pytestmark = pytest.mark.browser
tensorboard = pytest.importorskip("torch.utils.tensorboard")


def write_events(folder, steps=range(5)) -> None:
    writer = tensorboard.SummaryWriter(log_dir=str(folder))
    for step in steps:
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
    writer.close()


def test_a_logdir_imported_from_the_page_appears_as_a_run(dashboard, tmp_path):
    write_events(tmp_path / "logs" / "baseline")
    page = dashboard.page
    page.click("#tb-import-btn")
    page.fill("#tb-logdir", str(tmp_path / "logs"))
    page.click("#tb-import-submit")
    page.locator("#tb-import-result.alert-success").filter(has_text="1 run(s) imported").wait_for()
    page.locator("#runs-list").filter(has_text="baseline").wait_for()
    assert page.locator("#tb-import-cancel").is_hidden()
    page.fill("#tb-logdir", str(tmp_path / "nowhere"))
    page.click("#tb-import-submit")
    page.locator("#tb-import-result.alert-danger").filter(has_text="no such folder").wait_for()
    dashboard.forget_errors("404")  # the refused import, provoked on purpose


def test_a_bad_file_is_named_with_its_offset_beside_the_good_run(dashboard, tmp_path):
    write_events(tmp_path / "logs" / "good")
    (tmp_path / "logs" / "bad").mkdir()
    (tmp_path / "logs" / "bad" / "events.out.tfevents.1.bad").write_bytes(os.urandom(64))
    page = dashboard.page
    page.click("#tb-import-btn")
    page.fill("#tb-logdir", str(tmp_path / "logs"))
    page.click("#tb-import-submit")
    result = page.locator("#tb-import-result.alert-warning")
    result.filter(has_text="1 run(s) imported").wait_for()
    details = page.locator("#tb-import-details li").all_inner_texts()
    assert any(
        line.startswith("Not imported: logs/bad:") and "events.out.tfevents.1.bad at byte 0" in line
        for line in details
    ), details
    page.locator("#runs-list").filter(has_text="good").wait_for()


def test_a_long_import_shows_progress_and_can_be_cancelled(dashboard, tmp_path, monkeypatch):
    from lernkurve.importers import runs

    write_events(tmp_path / "logs" / "long", steps=range(12_000))
    arrived, passes, real = queue.Queue(), queue.Queue(), runs.write_points

    def held(*args, **kwargs):  # each batch waits until the test lets it pass
        real(*args, **kwargs)
        arrived.put(True)
        passes.get(timeout=60)

    monkeypatch.setattr(runs, "write_points", held)
    page = dashboard.page
    page.click("#tb-import-btn")
    page.fill("#tb-logdir", str(tmp_path / "logs"))
    page.click("#tb-import-submit")
    arrived.get(timeout=30)
    page.locator("#tb-import-status").filter(has_text="files").wait_for()
    page.locator("#tb-import-cancel").click()
    page.locator("#tb-import-status").filter(has_text="Cancelling").wait_for()
    for _ in range(5):
        passes.put(True)
    page.locator("#tb-import-result.alert-warning").filter(has_text="Cancelled").wait_for()
    assert page.locator("#tb-import-cancel").is_hidden()
    assert dashboard.api.runs() == []  # the half-imported run went back: there was none
