"""Importing TensorBoard event files from the page: the runs appear in the sidebar."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser
tensorboard = pytest.importorskip("torch.utils.tensorboard")


def write_events(folder) -> None:
    writer = tensorboard.SummaryWriter(log_dir=str(folder))
    for step in range(5):
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
    page.fill("#tb-logdir", str(tmp_path / "nowhere"))
    page.click("#tb-import-submit")
    page.locator("#tb-import-result.alert-danger").filter(has_text="no such folder").wait_for()
    dashboard.forget_errors("404")  # the refused import, provoked on purpose
