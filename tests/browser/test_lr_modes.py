"""LR modes in the hparam panel: scale the schedule or override it, release, param groups.

The run is a user's script in a thread; what its optimizer reports (`optimizer` snapshots) and
the lr events it records are written straight into the server's SQLite file, so these tests
check the page alone: what it sends and what it shows.
"""

from __future__ import annotations

import re

import pytest
from script_runs import ScriptRun

pytestmark = pytest.mark.browser

TWO_GROUPS = [
    {"lr": 0.1, "weight_decay": 0.01, "momentum": 0.9},
    {"lr": 0.05, "weight_decay": 0.0, "momentum": 0.9},
]


class LoopScript(ScriptRun):
    """A script run with live lr and weight_decay, logging `loss` every step."""

    def __init__(self, db_path, lr: float = 0.1) -> None:
        config = {"lr": lr, "weight_decay": 0.01}
        super().__init__(db_path, "scheduled", config, live=["lr", "weight_decay"])

    def optimizer(self, lr_mode: str = "scale", factor: float = 1.0, groups=None) -> None:
        payload = {
            "groups": groups or TWO_GROUPS,
            "lr_mode": lr_mode,
            "lr_factor": factor,
            "scheduled": True,
        }
        self.write("snapshots", "optimizer", payload)

    def lr_event(self, old: float, new: float, mode: str, **extra) -> None:
        self.write("events", "hparams", {"changes": {"lr": [old, new]}, "mode": mode, **extra})


@pytest.fixture
def script(dashboard):
    loop = LoopScript(dashboard.server.db_path)
    dashboard.api.wait_step(loop.run.id, 5)
    yield loop
    dashboard.settle()
    loop.finish()


def event_texts(page) -> list[str]:
    return page.locator("#events-list li[data-kind='hparams']").all_inner_texts()


def wait_telling(dashboard, run_id: int, predicate, timeout: float = 15.0):
    """dashboard.wait_for that says on a timeout what the page and the database show: the lr
    events listed and marked, the panel's message and lr state, the run's hparams events."""
    try:
        return dashboard.wait_for(predicate, timeout)
    except AssertionError as err:
        page = dashboard.page
        seen = {
            "listed": event_texts(page),
            "marked": [m["label"] for m in dashboard.markers("loss")],
            "message": page.locator("#hp-message").inner_text(),
            "state": page.locator("#lr-mode-state").inner_text(),
            "stored": [(e["step"], e["payload"]) for e in dashboard.api.events(run_id, "hparams")],
        }
        raise AssertionError(f"{err}: {seen}") from None


def has_event(dashboard, text: str) -> bool:
    """The text is in the events list and in a marker's label on the loss chart."""
    listed = any(text in item for item in event_texts(dashboard.page))
    drawn = any(text in line for m in dashboard.markers("loss") for line in m["label"])
    return listed and drawn


def test_override_then_release_from_the_panel(dashboard, script):
    page = dashboard.page
    dashboard.open_run(script.run.id)
    mode_box, release = page.locator("#lr-mode"), page.get_by_role("button", name="Release lr")
    state = page.locator("#lr-mode-state")

    # No optimizer snapshot yet (or no schedule): no mode switch, no group table.
    assert mode_box.is_hidden() and page.locator("#hp-groups").is_hidden()

    script.optimizer()
    mode_box.wait_for()
    assert state.inner_text() == "Follows the schedule." and release.is_disabled()
    rows = page.locator("#hp-groups-body tr")
    assert rows.count() == 2
    assert rows.nth(1).locator("[data-name='weight_decay']").inner_text() == "0"
    assert rows.nth(0).locator("[data-name='momentum']").inner_text() == "0.9"

    # Override: the PATCH says so.
    page.get_by_text("Override", exact=True).click()
    dashboard.field("#hp-live", "lr").fill("0.05")
    with page.expect_request(lambda r: r.method == "PATCH") as patch:
        page.get_by_role("button", name="Apply").click()
    assert patch.value.post_data_json == {"lr": 0.05, "lr_mode": "override"}

    script.lr_event(0.1, 0.05, "override")
    script.optimizer("override", groups=[{**g, "lr": 0.05} for g in TWO_GROUPS])
    dashboard.wait_for(lambda: has_event(dashboard, "lr: 0.1 → 0.05 (pinned)"))
    dashboard.wait_for(lambda: release.is_enabled())
    assert state.inner_text() == "Pinned at 0.05 until released."
    assert page.locator("#lr-mode-override").is_checked()  # the next change pins too

    # Release: the control call says so; the button waits for the run's answer.
    with page.expect_request(lambda r: r.url.endswith("/control")) as control:
        release.click()
    assert control.value.post_data_json == {"action": "release"}
    assert release.is_disabled()
    script.lr_event(0.05, 0.08, "release")
    script.optimizer("scale")
    dashboard.wait_for(lambda: has_event(dashboard, "lr: 0.05 → 0.08 (released)"))
    dashboard.wait_for(lambda: state.inner_text() == "Follows the schedule.")
    assert release.is_disabled() and page.locator("#lr-mode-scale").is_checked()


QUANTILES = [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1]
SNAPSHOTS_AND_WHERE_THEY_SHOW = [
    ("optimizer", {"groups": TWO_GROUPS, "lr_mode": "scale", "lr_factor": 1.0, "scheduled": True},
     "#lr-mode"),
    ("text", {"key": "sample", "text": "some words"}, "#samples-card"),
    ("distribution", {"name": "w", "q": QUANTILES, "values": [-2, -1, 0, 1, 2, 3, 4]},
     "#dist-card"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "payload", "shown_in"), SNAPSHOTS_AND_WHERE_THEY_SHOW)
def test_a_snapshot_written_before_the_subscribe_lands_still_shows(
    dashboard, script, kind, payload, shown_in
):
    """Written after the page read the run's snapshots, before the server joined it to the
    run's room (whose cursors start at the newest rows): the page fetches them again."""
    page, held, forward = dashboard.page, [], []

    def route(ws):
        server = ws.connect_to_server()
        forward.append(server.send)
        ws.on_message(lambda m: held.append(m) if '"subscribe"' in str(m) else server.send(m))

    page.route_web_socket(re.compile(r"/socket\.io/"), route)
    page.reload()
    page.wait_for_selector("html[data-ready][data-connection='online']")
    with page.expect_response(re.compile(rf"/snapshots\?kind={kind}")):
        dashboard.open_run(script.run.id)
    while not held:
        page.wait_for_timeout(20)

    script.write("snapshots", kind, payload)
    for message in held:
        forward[0](message)
    page.locator(shown_in).wait_for()


def test_scale_is_the_default_and_shows_its_factor(dashboard, script):
    page = dashboard.page
    dashboard.open_run(script.run.id)
    script.optimizer()
    page.locator("#lr-mode").wait_for()
    assert page.locator("#lr-mode-scale").is_checked()

    dashboard.field("#hp-live", "lr").fill("0.05")
    with page.expect_request(lambda r: r.method == "PATCH") as patch:
        page.get_by_role("button", name="Apply").click()
    assert patch.value.post_data_json == {"lr": 0.05, "lr_mode": "scale"}

    script.lr_event(0.1, 0.05, "scale", factor=0.5)
    script.optimizer("scale", factor=0.5)
    dashboard.wait_for(lambda: has_event(dashboard, "lr: 0.1 → 0.05 (×0.5)"))
    dashboard.wait_for(
        lambda: page.locator("#lr-mode-state").inner_text() == "Follows the schedule ×0.5."
    )

    # Only lr carries the mode: a weight decay change is sent as it is (and answered before
    # the test ends the run).
    dashboard.field("#hp-live", "weight_decay").fill("0.02")
    with page.expect_response(lambda r: r.request.method == "PATCH") as answer:
        page.get_by_role("button", name="Apply").click()
    assert answer.value.request.post_data_json == {"weight_decay": 0.02}
    assert answer.value.status == 200


def test_without_a_schedule_the_switch_stays_away_but_groups_show(dashboard, script):
    page = dashboard.page
    dashboard.open_run(script.run.id)
    payload = {"groups": TWO_GROUPS, "lr_mode": "scale", "lr_factor": 1.0, "scheduled": False}
    script.write("snapshots", "optimizer", payload)
    page.locator("#hp-groups").wait_for()
    assert page.locator("#lr-mode").is_hidden()
    dashboard.field("#hp-live", "lr").fill("0.05")
    with page.expect_request(lambda r: r.method == "PATCH") as patch:
        page.get_by_role("button", name="Apply").click()
    assert patch.value.post_data_json == {"lr": 0.05}

    # Without a schedule a factor says nothing that old → new does not.
    script.lr_event(0.1, 0.05, "scale", factor=0.5)
    dashboard.wait_for(lambda: has_event(dashboard, "lr: 0.1 → 0.05"))
    assert not any("×" in text for text in event_texts(page))


def test_a_long_lr_reads_rounded_and_apply_sends_only_what_was_edited(dashboard):
    script = LoopScript(dashboard.server.db_path, lr=0.123456789)
    try:
        page = dashboard.page
        dashboard.open_run(script.run.id)
        assert dashboard.field("#hp-live", "lr").input_value() == "0.123457"
        dashboard.field("#hp-live", "weight_decay").fill("0.02")
        # The answer, not only the request: the script must not end while the PATCH is on its
        # way (the run would have finished: a 409 in the console).
        with page.expect_response(lambda r: r.request.method == "PATCH") as answer:
            page.get_by_role("button", name="Apply").click()
        assert answer.value.request.post_data_json == {"weight_decay": 0.02}
        assert answer.value.status == 200
    finally:
        dashboard.settle()
        script.finish()


class ScheduledScript(ScriptRun):
    """A real loop: SGD with two param groups (wd 0.1 and 0), a LambdaLR schedule, watched."""

    def __init__(self, db_path) -> None:
        import torch

        torch.manual_seed(0)
        self.model = torch.nn.Linear(4, 1)
        groups = [
            {"params": [self.model.weight], "weight_decay": 0.1},
            {"params": [self.model.bias], "weight_decay": 0.0},
        ]
        self.optimizer = torch.optim.SGD(groups, lr=0.1, momentum=0.9)
        decay = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: 1 / (1 + 0.01 * s))
        self.scheduler = decay
        self.x, self.y = torch.randn(64, 4), torch.randn(64, 1)
        config = {"lr": 0.1, "weight_decay": 0.1}
        super().__init__(db_path, "scheduled for real", config, live=["lr", "weight_decay"])

    def train(self) -> None:
        self.run.watch(self.model, self.optimizer, scheduler=self.scheduler)
        super().train()

    def values(self, step: int) -> dict:
        loss = ((self.model(self.x) - self.y) ** 2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return {"loss": loss.item(), "lr": self.optimizer.param_groups[0]["lr"]}


def test_a_real_schedule_scaled_pinned_and_released_from_the_page(dashboard):
    page = dashboard.page
    script = ScheduledScript(dashboard.server.db_path)
    try:
        dashboard.api.wait_step(script.run.id, 5)
        dashboard.open_run(script.run.id)
        page.locator("#lr-mode").wait_for()
        assert [td.inner_text() for td in page.locator("[data-name='weight_decay']").all()] == [
            "0.1",
            "0",
        ]

        page.get_by_text("Override", exact=True).click()
        dashboard.field("#hp-live", "lr").fill("0.05")
        page.get_by_role("button", name="Apply").click()
        run_id = script.run.id
        wait_telling(dashboard, run_id, lambda: has_event(dashboard, "→ 0.05 (pinned)"), 30)
        release = page.get_by_role("button", name="Release lr")
        wait_telling(dashboard, run_id, lambda: release.is_enabled())
        assert page.locator("#lr-mode-state").inner_text() == "Pinned at 0.05 until released."

        release.click()
        wait_telling(
            dashboard,
            run_id,
            lambda: has_event(dashboard, "0.05 → ") and "(released)" in " ".join(event_texts(page)),
        )
        # The event and the optimizer snapshot that says "released" come as two messages; the
        # button is disabled from the click on, so wait for the snapshot's state line.
        state = page.locator("#lr-mode-state")

        def follows() -> bool:
            return state.inner_text().startswith("Follows the schedule")

        wait_telling(dashboard, run_id, follows)
        assert release.is_disabled() and page.locator("#lr-mode-scale").is_checked()

        # Scale (the default again): the schedule goes on, times new / current (above 1 once
        # the schedule has decayed lr below 0.02, some 400 steps in: a busy machine gets there).
        dashboard.field("#hp-live", "lr").fill("0.02")
        page.get_by_role("button", name="Apply").click()
        scaled = re.compile(r"lr: \S+ → 0\.02 \(×\d+(\.\d+)?\)")
        wait_telling(
            dashboard, run_id, lambda: any(scaled.search(text) for text in event_texts(page))
        )
        wait_telling(
            dashboard,
            run_id,
            lambda: re.fullmatch(r"Follows the schedule ×\d+(\.\d+)?\.", state.inner_text()),
        )
    finally:
        dashboard.settle()
        script.finish()
