"""×0.5 and ×2 beside the lr field, and a release the server refuses, in real Chromium."""

from __future__ import annotations

import re
import sqlite3
import time

import pytest
from script_runs import ScriptRun

pytestmark = pytest.mark.browser

LANDED = r"lr: {} → {} landed at step \d+, [\d.]+ s after you sent it\."  # sent, then landed


def asked(api, run_id: int, factor: float) -> list[dict]:
    """The run's hparams events that applied lr times this factor."""
    wanted = {"lr": {"scale": factor}}
    return [e for e in api.events(run_id, "hparams") if e["payload"].get("asked") == wanted]


def test_times_half_and_times_two_scale_a_live_built_in_run(dashboard):
    api, page = dashboard.api, dashboard.page
    run = api.start(name="halve me", delay_ms=5.0, epochs=1000)
    api.wait_step(run["id"], 5)
    dashboard.open_run(run["id"])
    half = page.get_by_role("button", name="Multiply lr by 0.5")
    double = page.get_by_role("button", name="Multiply lr by 2")
    assert (half.inner_text(), double.inner_text()) == ("×0.5", "×2")
    dashboard.wait_for(lambda: half.is_enabled() and double.is_enabled())

    with page.expect_request(lambda r: r.method == "PATCH") as patch:
        half.click()
    assert patch.value.post_data_json == {"lr": {"scale": 0.5}}
    message = page.locator("#hp-message")
    event = dashboard.wait_for(lambda: asked(api, run["id"], 0.5))[0]
    assert event["payload"]["changes"]["lr"] == pytest.approx([0.1, 0.05])
    dashboard.wait_for(lambda: re.fullmatch(LANDED.format(r"0\.1", r"0\.05"), message.inner_text()))
    dashboard.wait_for(lambda: dashboard.api.run(run["id"])["hparams"]["lr"] == 0.05)

    double.click()
    event = dashboard.wait_for(lambda: asked(api, run["id"], 2.0))[0]
    assert event["payload"]["changes"]["lr"] == pytest.approx([0.05, 0.1])
    dashboard.wait_for(lambda: re.fullmatch(LANDED.format(r"0\.05", r"0\.1"), message.inner_text()))

    page.get_by_role("button", name="Language").click()
    page.locator("#lang-menu [data-lang='de']").click()
    german = page.get_by_role("button", name="lr mit 0,5 multiplizieren")
    assert german.inner_text() == "×0,5"

    api.control(run["id"], "stop")
    api.wait_status(run["id"], "stopped")
    dashboard.wait_for(lambda: german.is_disabled())


def test_a_change_whose_event_comes_before_its_answer_still_says_it_landed(dashboard):
    # A busy page: the run applies ×0.5 and its event reaches the page before the answer to
    # the request does (held here until the event is listed).
    api, page = dashboard.api, dashboard.page
    run = api.start(name="quick", delay_ms=5.0, epochs=1000)
    api.wait_step(run["id"], 5)
    dashboard.open_run(run["id"])
    listed = page.locator("#events-list li[data-kind='hparams']")

    def answer_late(route) -> None:
        response = route.fetch()
        deadline = time.monotonic() + 10
        while listed.count() == 0 and time.monotonic() < deadline:
            page.wait_for_timeout(20)
        route.fulfill(response=response)

    page.route("**/hparams", answer_late)
    half = page.get_by_role("button", name="Multiply lr by 0.5")
    dashboard.wait_for(lambda: half.is_enabled())
    half.click()
    message = page.locator("#hp-message")
    dashboard.wait_for(lambda: re.fullmatch(LANDED.format(r"0\.1", r"0\.05"), message.inner_text()))
    assert listed.count() == 1


def test_a_refused_factor_shows_the_server_message(dashboard):
    api, page = dashboard.api, dashboard.page
    run = api.start(name="at the top", lr=8.0, delay_ms=5.0, epochs=1000)
    api.wait_step(run["id"], 2)
    dashboard.open_run(run["id"])
    double = page.get_by_role("button", name="Multiply lr by 2")
    dashboard.wait_for(double.is_enabled)
    double.click()
    message = page.locator("#hp-message")
    dashboard.wait_for(lambda: message.inner_text().startswith("lr must be between"))
    assert message.get_attribute("role") == "alert"
    assert asked(api, run["id"], 2.0) == []
    dashboard.forget_errors("status of 400")


def test_a_release_the_server_refuses_says_why_in_the_panel(dashboard):
    """The page still shows lr pinned while the run has released it (its newest snapshot not
    here yet): the server's reason lands in the panel's message line."""
    api, page = dashboard.api, dashboard.page
    script = ScriptRun(dashboard.server.db_path, "pinned", {"lr": 0.1}, live=["lr"])
    try:
        api.wait_step(script.run.id, 5)
        dashboard.open_run(script.run.id)
        groups = [{"lr": 0.1, "weight_decay": 0.0, "momentum": 0.9}]
        scheduled = {"groups": groups, "lr_factor": 1.0, "scheduled": True}
        script.write("snapshots", "optimizer", {**scheduled, "lr_mode": "scale"})
        script.write("snapshots", "optimizer", {**scheduled, "lr_mode": "override"})
        release = page.get_by_role("button", name="Release lr")
        dashboard.wait_for(release.is_enabled)
        with sqlite3.connect(dashboard.server.db_path, timeout=10) as db:
            db.execute("DELETE FROM snapshots WHERE id = (SELECT max(id) FROM snapshots)")

        with page.expect_response(lambda r: r.url.endswith("/control")) as answer:
            release.click()
        assert answer.value.status == 409
        message = page.locator("#hp-message")
        dashboard.wait_for(lambda: message.inner_text().startswith("lr is not pinned"))
        assert "it follows the schedule, so there is nothing to release" in message.inner_text()
        assert message.get_attribute("role") == "alert"
        assert not [e for e in api.events(script.run.id) if e["kind"] in ("hparams", "note")]
        dashboard.forget_errors("status of 409")
    finally:
        script.finish()
