"""Deciding while it trains, in real Chromium: find lr, race, autopilot, change impact, recipes.

Trials run in the spiral's own training loop; what only the page is tested on (an autopilot
action, a change to measure) is written into a script run's rows, as its writer would.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time

import pytest
from script_runs import ScriptRun

pytestmark = pytest.mark.browser

TRIAL_TIMEOUT = 90.0  # a busy 2-core box trains slowly
SAID = r"Impact: slope −?[\d.]+e[-+]\d+ → −?[\d.]+e[-+]\d+ per step.*"


def overlays(dashboard, chart: str = "loss") -> list[dict]:
    """The lines of other runs drawn over a chart: run id, label, points, winner flag."""
    return dashboard.page.evaluate(
        """(chart) => {
            const c = Chart.getChart(document.querySelector(`#chart-block-${chart} canvas`));
            if (!c) return [];
            return c.data.datasets.filter((d) => d.lkOverlay).map((d) => ({
                run: d.lkRun, label: d.label, points: d.data.length, winner: Boolean(d.lkWinner),
                width: d.borderWidth,
            }));
        }""",
        chart,
    )


def annotations(dashboard, chart: str = "loss") -> list[dict]:
    """Every marker on a chart with its dash pattern and whether it is a recipe's plan."""
    return dashboard.page.evaluate(
        """(chart) => {
            const c = Chart.getChart(document.querySelector(`#chart-block-${chart} canvas`));
            if (!c) return [];
            return Object.values(c.options.plugins.annotation.annotations).map((a) => ({
                value: a.value, dash: a.borderDash, planned: Boolean(a.lkPlanned),
                label: a.label.content,
            }));
        }""",
        chart,
    )


def children(api, run_id: int, kind: str) -> list[dict]:
    runs = api.runs()
    return [r for r in runs if r["parent_id"] == run_id and r["config"].get("kind") == kind]


def test_find_lr_draws_the_curve_and_apply_changes_the_lr(dashboard):
    api, page = dashboard.api, dashboard.page
    run = api.start(name="find my lr", delay_ms=5.0)
    dashboard.open_run(run["id"])
    api.wait_step(run["id"], 5)
    page.locator("#chart-block-loss canvas").wait_for()  # the test reads a logged loss

    page.get_by_role("button", name="Find lr").click()
    page.locator("#lr-test-modal").wait_for(state="visible")
    assert page.locator("#lrt-min").input_value() == "1e-6"
    assert page.locator("#lrt-max").input_value() == "1"
    assert page.locator("#lrt-steps").input_value() == "100"
    page.locator("#lrt-steps").fill("40")
    page.locator("#lrt-start").click()
    page.locator("#lrt-result").wait_for(state="visible", timeout=TRIAL_TIMEOUT * 1000)

    (event,) = api.events(run["id"], "lr_test")
    suggested = event["payload"]["suggested_lr"]
    curve = page.evaluate(
        """() => {
            const c = Chart.getChart(document.getElementById('lrt-canvas'));
            return {points: c.data.datasets[0].data.length, x: c.options.scales.x.type,
                    marked: c.options.plugins.annotation.annotations.suggested?.value ?? null};
        }"""
    )
    assert curve == {
        "points": len(event["payload"]["lrs"]),
        "x": "logarithmic",
        "marked": suggested,
    }

    # The trial's child run sits under its run in the sidebar, not among the runs.
    child = event["payload"]["run_id"]
    assert page.locator(f"#runs-list > li[data-run-id='{child}']").count() == 0
    toggle = page.locator(f"#runs-list > li[data-run-id='{run['id']}'] .trials-toggle")
    assert toggle.get_attribute("data-count") == "1"
    assert page.locator("#events-list li[data-kind='lr_test'] .lrt-show").count() == 1
    if suggested is None:  # the spiral's batch loss is noisy: 40 steps may show no clear minimum
        assert event["payload"]["verdict"] in ("flat", "rising")
        assert page.locator("#lrt-apply").is_hidden()
        assert page.locator("#lrt-suggestion").inner_text().startswith("The loss ")
        return

    lrs = event["payload"]["lrs"]
    assert lrs[0] < suggested < lrs[-1]
    page.locator("#lrt-apply").click()
    lr = api.run(run["id"])["hparams"]["lr"]
    if not 0.1 <= suggested / lr <= 10:  # beyond ×0.1 … ×10: asked once more
        page.get_by_role("button", name="Apply anyway").click()
    page.locator("#lrt-change .change-undo").wait_for()
    close = pytest.approx(suggested, rel=1e-6)
    dashboard.wait_for(lambda: api.run(run["id"])["hparams"]["lr"] == close)
    dashboard.wait_for(lambda: api.points(run["id"], "lr")[-1][1] == close, TRIAL_TIMEOUT)


def test_a_race_shows_its_variants_on_the_charts_and_marks_the_winner(dashboard):
    api, page = dashboard.api, dashboard.page
    run = api.start(name="race me", delay_ms=5.0)
    dashboard.open_run(run["id"])
    api.wait_step(run["id"], 5)
    lr = api.run(run["id"])["hparams"]["lr"]
    # A race scores a metric the run has logged (else 400): the page must know its loss first.
    page.locator("#chart-block-loss canvas").wait_for()

    page.get_by_role("button", name="Race").click()
    rows = page.locator("#race-rows tr")
    rows.first.wait_for()
    assert rows.count() == 3
    lrs = [float(rows.nth(i).locator("input[data-key='lr']").input_value()) for i in range(3)]
    assert lrs == pytest.approx([lr * 0.3, lr, lr * 3], rel=1e-2)
    page.locator("#race-steps").fill("30")
    assert "loss" in page.locator("#race-metric").input_value()
    page.locator("#race-start").click()
    page.locator("#race-modal").wait_for(state="hidden")

    ids = dashboard.wait_for(lambda: [c["id"] for c in children(api, run["id"], "race")])
    assert len(ids) == 3

    def drawn():
        lines = {line["run"]: line for line in overlays(dashboard) if line["points"]}
        return set(lines) == set(ids) and lines

    lines = dashboard.wait_for(drawn, TRIAL_TIMEOUT)
    assert any("lr=" in line["label"] for line in lines.values())
    chips = page.locator("#chart-block-loss [data-legend] .legend-overlay")

    def chips_match_lines():  # read both each time: a variant's val_loss line comes later
        labels = {line["label"] for line in overlays(dashboard)}
        return set(chips.all_inner_texts()) == labels and labels

    assert len(dashboard.wait_for(chips_match_lines)) >= 3
    chips.first.click()  # a variant's chip hides its line, as a series' chip does
    assert chips.first.get_attribute("aria-pressed") == "false"

    (event,) = dashboard.wait_for(lambda: api.events(run["id"], "race"), TRIAL_TIMEOUT)
    winner = event["payload"]["results"][event["payload"]["winner"]]["run_id"]
    winners = dashboard.wait_for(lambda: [x["run"] for x in overlays(dashboard) if x["winner"]])
    assert set(winners) == {winner}
    # the current lr (the middle row) may win, or no row beat it by more than the noise: then
    # nothing changes
    payload = event["payload"]
    said = "Race won by"
    if payload["kept"]:
        said = "too close to call" if payload["too_close"] else "did best; nothing changed"
    page.locator("#decide-status", has_text=said).wait_for()
    for rid in ids:  # trials are not runs of their own in the sidebar
        assert page.locator(f"#runs-list > li[data-run-id='{rid}']").count() == 0


def test_a_race_dialog_answered_while_it_still_opens_closes(dashboard):
    """Bootstrap ignores hide() while a modal is opening: the dialog closes once it has."""
    api, page = dashboard.api, dashboard.page
    run = api.start(name="quick", delay_ms=5.0)
    dashboard.open_run(run["id"])
    api.wait_step(run["id"], 5)
    page.locator("#chart-block-loss canvas").wait_for()
    slow = "document.querySelector('#race-modal .modal-dialog').style.transitionDuration = '2s'"
    page.evaluate(slow)  # a long opening (a busy page's is late)
    page.get_by_role("button", name="Race").click()
    start, modal = page.locator("#race-start"), page.locator("#race-modal")
    start.wait_for()  # shown, still opening
    start.click(force=True)  # at once, while it opens (a quick Enter does the same)
    assert dashboard.wait_for(lambda: children(api, run["id"], "race"))  # the race started ...
    modal.wait_for(state="hidden", timeout=10_000)  # ... and its dialog closed once open


class LossScript(ScriptRun):
    def __init__(self, db_path) -> None:
        super().__init__(db_path, "steered", {"lr": 0.1}, live=["lr"])


@pytest.fixture
def script(dashboard):
    loop = LossScript(dashboard.server.db_path)
    dashboard.api.wait_step(loop.run.id, 5)
    yield loop
    loop.finish()


def autopilot_of(api, run_id: int) -> dict:
    return api.run(run_id)["config"].get("autopilot") or {"enabled": False}


def test_an_autopilot_action_shows_as_the_autopilots_and_undo_takes_it_back(dashboard):
    api, page = dashboard.api, dashboard.page
    run = api.start(name="autopilot", delay_ms=5.0)
    run_id = run["id"]
    dashboard.open_run(run_id)
    api.wait_step(run_id, 5)
    page.locator("#chart-block-loss canvas").wait_for()  # the autopilot reads a logged loss
    undo = page.locator("#ap-undo")
    assert undo.is_disabled()  # nothing to undo yet

    # A plateau at once: no step improves train_loss by 10, so after 20 steps lr × 0.5, once.
    # Divergence off: a noisy spike above 3× that never-bettered best would act too.
    page.locator("#ap-settings-btn").click()
    divergence = {
        k: page.locator(f"#ap-form [name='divergence.{k}']") for k in ("window", "factor")
    }
    assert divergence["window"].input_value() == "20"
    divergence["factor"].fill("0.001")  # would take lr to nothing: the server says the bound
    page.locator("#ap-form button[type=submit]").click()
    page.get_by_role("button", name="Save anyway").click()  # beyond ×0.1: asked once more
    page.locator("#ap-form-message.text-danger", has_text="0.01").wait_for()
    dashboard.forget_errors("status of 400")
    divergence["factor"].fill("0.5")
    settings = {"metric": "train_loss", "patience": "20", "max_times": "1", "min_delta": "10"}
    for name, value in settings.items():
        page.locator(f"#ap-form [name='plateau.{name}']").fill(value)
    page.locator("#ap-divergence").uncheck()
    page.locator("#ap-form button[type=submit]").click()
    page.locator("#ap-form-message.text-success").wait_for()
    page.locator("#ap-settings-btn").click()
    page.locator("#ap-enabled").check()
    saved = dashboard.wait_for(lambda: (a := autopilot_of(api, run_id))["enabled"] and a)
    assert saved["plateau"]["patience"] == 20 and saved["plateau"]["min_delta"] == 10
    assert saved["divergence"]["enabled"] is False
    assert saved["divergence"]["window"] == 20 and saved["divergence"]["max_times"] == 3

    row = page.locator("#events-list li[data-kind='hparams'][data-by='autopilot']").first
    row.wait_for(timeout=TRIAL_TIMEOUT * 1000)
    assert "Autopilot (plateau)" in row.inner_text() and "lr: 0.1 → 0.05" in row.inner_text()
    assert row.locator(".bi-robot").count() == 1
    dashboard.wait_for(lambda: api.run(run_id)["hparams"]["lr"] == pytest.approx(0.05))
    marked = [m["label"][0] for m in annotations(dashboard) if "Autopilot (" in m["label"][0]]
    assert marked == ["Autopilot (plateau) · lr: 0.1 → 0.05"]

    dashboard.wait_for(undo.is_enabled)
    undo.click()
    page.locator("#events-list li[data-by='autopilot']", has_text="Autopilot (undo)").wait_for()
    dashboard.wait_for(lambda: api.run(run_id)["hparams"]["lr"] == pytest.approx(0.1))
    api.control(run_id, "stop")


def test_a_change_shows_its_impact_in_the_list_and_the_tooltip(dashboard, script):
    api, page = dashboard.api, dashboard.page
    run_id = script.run.id
    dashboard.open_run(run_id)
    step = api.run(run_id)["step"]
    script.write("events", "hparams", {"changes": {"lr": [0.1, 0.2]}, "mode": "scale"}, step)

    def impact():
        found = [e.get("impact") for e in api.events(run_id, "hparams")]
        return found and found[0]

    assert dashboard.wait_for(impact, TRIAL_TIMEOUT)["text"].startswith("slope ")
    item = page.locator("#events-list li[data-kind='hparams'] .event-impact")
    item.wait_for(timeout=20_000)  # the page fetches the events again while points arrive
    # The window after the change fills as the run goes on, so the figures may still move.
    assert re.fullmatch(SAID, item.inner_text())
    lines = [line for m in annotations(dashboard) if m["value"] == step for line in m["label"]]
    assert any(re.fullmatch(SAID, line) for line in lines), lines


def test_a_replayed_recipe_draws_its_changes_to_come_dashed(dashboard):
    api, page = dashboard.api, dashboard.page
    source = api.start(name="recipe source")
    api.wait_step(source["id"], 200)
    assert api.patch(f"/api/runs/{source['id']}/hparams", json={"lr": 0.05}).status_code == 200
    (change,) = dashboard.wait_for(lambda: api.events(source["id"], "hparams"))
    api.control(source["id"], "stop")

    page.locator("#new-run-btn").click()
    page.locator("#new-run-modal").wait_for(state="visible")
    page.locator("#new-recipe").select_option(str(source["id"]))
    dashboard.field("#new-hparams", "delay_ms").fill("200")
    page.locator("#new-submit").click()

    def opened():
        hash_ = page.evaluate("location.hash")
        return hash_ != f"#/run/{source['id']}" and hash_.startswith("#/run/") and hash_

    new_id = int(dashboard.wait_for(opened).split("/")[2])
    assert api.run(new_id)["config"]["recipe"]["steps"][0]["step"] == change["step"]
    page.wait_for_selector(f"html[data-charts-rendered='{new_id}']")

    def planned():
        return [m for m in annotations(dashboard) if m["planned"]]

    (marker,) = dashboard.wait_for(planned, 30)
    assert marker["value"] == change["step"] and marker["dash"]
    assert any("Planned: lr → 0.05" in line for line in marker["label"])

    # Once the run passes that step the change is an event of the recipe's, no longer a plan.
    assert api.patch(f"/api/runs/{new_id}/hparams", json={"delay_ms": 1.0}).status_code == 200
    row = page.locator("#events-list li[data-by='recipe']")
    row.wait_for(timeout=TRIAL_TIMEOUT * 1000)
    assert "Recipe" in row.inner_text() and "0.05" in row.inner_text()
    dashboard.wait_for(lambda: not planned())
    assert api.run(new_id)["hparams"]["lr"] == pytest.approx(0.05)
    api.control(new_id, "stop")


def test_a_trial_the_run_cannot_do_says_why(dashboard, script):
    page = dashboard.page
    dashboard.open_run(script.run.id)
    page.get_by_role("button", name="Find lr").click()
    page.locator("#lrt-start").click()
    message = page.locator("#lrt-message.text-danger")
    message.wait_for()  # a script that never called run.watch(model, optimizer)
    assert "run.watch" in message.inner_text()
    assert page.locator("#lrt-progress-box").is_hidden() and page.locator("#lrt-start").is_enabled()
    dashboard.forget_errors("status of 409")  # the refusal itself, logged by Chromium


def claim_a_loop(script) -> None:
    """Make the run's row say its loop can host a trial, as a script's writer sends it; the
    script itself watches no optimizer, so it refuses the trial at its next boundary."""
    with sqlite3.connect(script.db_path, timeout=10) as db:
        (config,) = db.execute("SELECT config FROM runs WHERE id=?", (script.run.id,)).fetchone()
        config = {**json.loads(config), "loop": {"optimizer": True, "boundaries": True}}
        db.execute("UPDATE runs SET config=? WHERE id=?", (json.dumps(config), script.run.id))


def messages_of(page, selector: str):
    """Every (class, text) the element shows from now on, however briefly: a function that
    reads them (each read pumps the page's events)."""
    page.evaluate(
        """(selector) => {
          const el = document.querySelector(selector);
          window.__said = [];
          new MutationObserver(() => window.__said.push([el.className, el.textContent]))
            .observe(el, {attributes: true, childList: true, characterData: true, subtree: true});
        }""",
        selector,
    )
    return lambda: page.evaluate("() => window.__said")


def start_a_trial_row(script) -> None:
    """A race asked for on the run and not ended yet: its child row, as the API writes it."""
    with sqlite3.connect(script.db_path, timeout=10) as db:
        db.execute(
            "INSERT INTO runs (name, task, status, hparams, config, step, created_at, parent_id)"
            " VALUES ('variant', 'race', 'queued', '{}', '{}', 0, ?, ?)",
            (time.time(), script.run.id),
        )


def test_a_change_asked_for_while_a_trial_runs_says_it_waits(dashboard, script):
    page = dashboard.page
    dashboard.open_run(script.run.id)
    start_a_trial_row(script)
    said = messages_of(page, "#hp-message")
    page.get_by_role("button", name="Multiply lr by 0.5").click()
    # The script has no trial of its own, so the change lands soon after: the warning may be
    # on the page for a moment only, before the landed message replaces it.
    warned = "text-warning-emphasis", "an lr test or race is running"
    dashboard.wait_for(lambda: any(c.endswith(warned[0]) and warned[1] in t for c, t in said()))
    page.get_by_role("button", name="Checkpoint").click()
    page.locator("#control-error", has_text="an lr test or race is running").wait_for()


def test_a_refusal_broadcast_before_the_post_answers_still_says_why(dashboard, script):
    """The child run's end can reach the page before the answer that names the child."""
    api, page = dashboard.api, dashboard.page
    dashboard.open_run(script.run.id)
    claim_a_loop(script)

    def answer_once_refused(route):
        response = route.fetch()
        child = response.json()["run_id"]
        dashboard.wait_for(lambda: api.run(child)["status"] == "failed")
        time.sleep(1.0)  # the streamer broadcasts runs every 0.2 s
        route.fulfill(response=response)

    page.route(re.compile(r"/lr_test$"), answer_once_refused)
    page.get_by_role("button", name="Find lr").click()
    page.locator("#lrt-start").click()
    message = page.locator("#lrt-message.text-danger")
    message.wait_for()
    assert "run.watch" in message.inner_text()
