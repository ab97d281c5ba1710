"""A run from a user's own script: its own schema, a NaN that diverges, the gap it leaves."""

from __future__ import annotations

import math
import threading
import time

import pytest

pytestmark = pytest.mark.browser


def test_script_run_shows_its_schema_and_its_divergence(dashboard):
    from lernkurve.tracking import client

    api, page = dashboard.api, dashboard.page
    run = client.init(
        name="my script", config={"lr": 0.5, "width": 8}, live=["lr"], db=dashboard.server.db_path
    )

    def train():
        with run:
            for step in run.steps(120):
                run.log({"loss": math.nan if step == 40 else 1 / (step + 1)}, step=step)
                time.sleep(0.01)

    worker = threading.Thread(target=train, daemon=True)
    worker.start()
    try:
        dashboard.open_run(run.id)
        # The hparam panel comes from the script's own schema, not from the built-in tasks.
        assert dashboard.field("#hp-live", "lr").input_value() == "0.5"
        assert page.locator("#hp-live [data-key]").count() == 1
        assert page.locator("#hp-fixed dd[data-key='width']").text_content() == "8"

        # NaN pauses the run and is marked on the chart; the curve has a gap there.
        page.wait_for_selector("#run-status[data-status='paused']")
        diverged = dashboard.wait_for(
            lambda: [m for m in dashboard.markers("loss") if "Diverged: loss" in m["label"][0]]
        )
        assert diverged[0]["value"] == 40
        assert [40, None] in dashboard.series("loss", "loss")

        page.get_by_role("button", name="Resume", exact=True).click()
        page.wait_for_selector("#run-status[data-status='completed']")
        assert [b.is_disabled() for b in page.locator("[data-action]").all()] == [True] * 5
    finally:
        if api.run(run.id)["status"] in ("running", "paused"):
            api.control(run.id, "stop")
        worker.join(10)
