"""A change says it landed, in real Chromium: the step and the seconds since it was sent, or
after 5 s why not (a trial running, no step since, the script gone); numbers in full in the
lr box, its slider around the current value; the param groups follow the run's lr, also once
it has finished."""

from __future__ import annotations

import re
import sqlite3
import threading
import time

import pytest
from script_runs import ScriptRun
from scripting import Scripts

from support import ROOT

pytestmark = pytest.mark.browser

LANDED = r"lr: 0\.1 → 0\.05 landed at step (\d+), [\d.]+ s after you sent it\."


@pytest.fixture
def script(dashboard):
    loop = ScriptRun(dashboard.server.db_path, "steered", {"lr": 0.1}, live=["lr"])
    dashboard.api.wait_step(loop.run.id, 5)
    yield loop
    loop.finish()


def send_lr(dashboard, value: str) -> None:
    dashboard.field("#hp-live", "lr").fill(value)
    with dashboard.page.expect_response(lambda r: r.request.method == "PATCH"):
        dashboard.page.get_by_role("button", name="Apply", exact=True).click()


def test_a_change_says_the_step_it_landed_on(dashboard, script):
    api, page = dashboard.api, dashboard.page
    dashboard.open_run(script.run.id)
    send_lr(dashboard, "0.05")
    message = page.locator("#hp-message")
    landed = dashboard.wait_for(lambda: re.fullmatch(LANDED, message.inner_text()))
    (event,) = api.events(script.run.id, "hparams")
    assert int(landed.group(1)) == event["step"]


def test_a_change_while_paused_lands_at_once(dashboard, script):
    """A paused run applies changes while it waits: a pause never keeps one from landing."""
    api, page = dashboard.api, dashboard.page
    dashboard.open_run(script.run.id)
    assert api.control(script.run.id, "pause").status_code == 202
    page.locator("#run-status", has_text="paused").wait_for()
    send_lr(dashboard, "0.05")
    message = page.locator("#hp-message")
    dashboard.wait_for(lambda: re.fullmatch(LANDED, message.inner_text()))
    assert api.run(script.run.id)["status"] == "paused"


def start_a_trial_row(script) -> None:
    """A race asked for on the run and not ended yet: its child row, as the API writes it."""
    with sqlite3.connect(script.db_path, timeout=10) as db:
        db.execute(
            "INSERT INTO runs (name, task, status, hparams, config, step, created_at, parent_id)"
            " VALUES ('variant', 'race', 'queued', '{}', '{}', 0, ?, ?)",
            (time.time(), script.run.id),
        )


class StuckScript(ScriptRun):
    """Its fourth step never ends (until the test ends): no boundary applies a change."""

    def train(self) -> None:
        with self.run:
            for step in self.run.steps():
                self.run.log(self.values(step), step=step)
                if self.done.wait(30 if step == 3 else 0.01):
                    break


@pytest.fixture
def stuck(dashboard):
    loop = StuckScript(dashboard.server.db_path, "stuck", {"lr": 0.1}, live=["lr"])
    dashboard.api.wait_step(loop.run.id, 3)
    yield loop
    loop.finish()


def test_a_change_with_no_step_since_says_so(dashboard, stuck):
    page = dashboard.page
    dashboard.open_run(stuck.run.id)
    send_lr(dashboard, "0.05")
    message = page.locator("#hp-message")
    dashboard.wait_for(lambda: message.inner_text().startswith("Not landed after 5 s"), 15)
    assert "no step has ended since you sent it" in message.inner_text()
    assert message.get_attribute("role") == "alert"


def test_a_late_change_says_so_again_when_the_run_ends_without_it(dashboard, stuck):
    api, page = dashboard.api, dashboard.page
    dashboard.open_run(stuck.run.id)
    send_lr(dashboard, "0.05")
    message = page.locator("#hp-message")
    dashboard.wait_for(lambda: message.inner_text().startswith("Not landed after 5 s"), 15)
    stuck.finish()  # its stuck step ends the loop: no boundary applied the change
    api.wait_status(stuck.run.id, "completed")
    gone = "Not landed after 5 s: the run is completed: its script takes no more changes."
    dashboard.wait_for(lambda: message.inner_text() == gone)


def test_a_change_that_waits_for_a_trial_says_so_after_5_s(dashboard, stuck):
    page = dashboard.page
    dashboard.open_run(stuck.run.id)
    start_a_trial_row(stuck)
    send_lr(dashboard, "0.05")
    message = page.locator("#hp-message")
    late = "Not landed after 5 s: an lr test or race is running; it lands when that ends."
    dashboard.wait_for(lambda: message.inner_text() == late, 15)


def test_a_change_to_a_script_that_died_says_it_is_gone(dashboard, data_dir, tmp_path):
    """kill -9 while the change is on its way: the run ends `interrupted` (no heartbeat) and
    the panel says the script takes no more changes, not that a step is slow."""
    api, page = dashboard.api, dashboard.page
    paced = ROOT / "tests" / "scripts" / "paced.py"
    with Scripts(paced, dashboard.server.db_path, data_dir, tmp_path) as start:
        proc, run_id, _ = start("100000", "0.05")
        api.wait_step(run_id, 3)
        dashboard.open_run(run_id)
        proc.kill()
        proc.wait(10)
        send_lr(dashboard, "0.05")
    message = page.locator("#hp-message")
    gone = "Not landed after 5 s: the run is interrupted: its script takes no more changes."
    dashboard.wait_for(lambda: message.inner_text() == gone, 20)
    assert message.get_attribute("role") == "alert"
    assert api.events(run_id, "hparams") == []


def test_a_long_lr_shows_in_full_with_its_slider_in_the_middle(dashboard):
    api, page = dashboard.api, dashboard.page
    loop = ScriptRun(dashboard.server.db_path, "small lr", {"lr": 0.00085723}, live=["lr"])
    try:
        api.wait_step(loop.run.id, 3)
        dashboard.open_run(loop.run.id)
        box = dashboard.field("#hp-live", "lr")
        assert box.input_value() == "8.5723e-4"
        assert box.evaluate("(el) => el.scrollWidth <= el.clientWidth")  # nothing cut off
        slider = page.locator("#hp-live [data-key='lr'] input[type='range']")
        assert abs(int(slider.input_value()) - 500) <= 1  # ÷100 … ×100 around it, logarithmic
        assert slider.get_attribute("aria-valuetext") == "8.572e-4"
        slider.fill("750")  # a quarter further: ×10 on a log scale
        assert float(box.input_value()) == pytest.approx(8.57e-3, rel=1e-2)
    finally:
        loop.finish()


GROUPS = [
    {"lr": 0.001, "weight_decay": 0.01, "momentum": 0.9},
    {"lr": 0.0005, "weight_decay": 0.0, "momentum": 0.9},
]


def group_lrs(page) -> list[str]:
    return page.locator("#hp-groups-body [data-name='lr']").all_inner_texts()


def test_the_param_groups_follow_the_runs_lr_also_once_finished(dashboard):
    """The newest snapshot is older than the run's lr (a schedule moves it every step; the
    snapshots follow at most twice a second): the groups move with it."""
    api, page = dashboard.api, dashboard.page
    loop = ScriptRun(dashboard.server.db_path, "scheduled", {"lr": 8.57e-4}, live=["lr"])
    try:
        api.wait_step(loop.run.id, 6)
        snapshot = {"groups": GROUPS, "lr_mode": "scale", "lr_factor": 1.0, "scheduled": True}
        loop.write("snapshots", "optimizer", snapshot, step=5)
        dashboard.open_run(loop.run.id)
        page.locator("#hp-groups").wait_for()
        dashboard.wait_for(lambda: group_lrs(page) == ["8.57e-4", "4.285e-4"])
    finally:
        finished = threading.Thread(target=loop.finish)
        finished.start()
    finished.join()
    api.wait_status(loop.run.id, "completed")
    page.locator("#run-status", has_text="completed").wait_for()
    assert group_lrs(page) == ["8.57e-4", "4.285e-4"]
