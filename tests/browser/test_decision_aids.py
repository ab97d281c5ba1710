"""Decision aids that can't be misread, in real Chromium: an lr test's verdict and why it
stopped, Apply that says old → new and asks again beyond ×0.1 … ×10, Undo, a metric the run
never logged refused with the keys it does log, a race's scores and rule.

The run is a user's script in a thread; results (`lr_test`, `race` events) are written into
the server's SQLite file as the run's writer would, so these check the page alone.
"""

from __future__ import annotations

import re

import pytest
from script_runs import ScriptRun

pytestmark = pytest.mark.browser

LRS = [1e-6 * 10 ** (i / 10) for i in range(11)]  # 1e-6 … 1e-5: a test that stopped early


def lr_test_result(**payload) -> dict:
    return {
        "lrs": LRS,
        "losses": [1e-4] * 11,
        "metric": "loss",
        "run_id": 999,
        "steps": 11,
        "planned_steps": 100,
        "min_lr": 1e-6,
        "max_lr": 1.0,
        "stopped_because": None,
        "diverge_ratio": 4.0,
        "suggested_lr": None,
        "verdict": "flat",
        "flat_to": 1e-5,
        "values": 11,
        **payload,
    }


@pytest.fixture
def script(dashboard):
    loop = ScriptRun(dashboard.server.db_path, "decide", {"lr": 0.1}, live=["lr"])
    dashboard.api.wait_step(loop.run.id, 5)
    yield loop
    loop.finish()


def show_lr_test(dashboard, script, payload: dict) -> None:
    script.write("events", "lr_test", payload)
    dashboard.open_run(script.run.id)
    dashboard.page.locator("#events-list .lrt-show").click()
    dashboard.page.locator("#lrt-result").wait_for()


def tick_labels(page) -> list[str]:
    return page.evaluate(
        """() => Chart.getChart(document.getElementById('lrt-canvas')).scales.x.ticks
            .map((t) => t.label).filter((label) => label)"""
    )


def test_a_flat_curve_says_keep_the_lr_and_why_the_test_stopped(dashboard, script):
    page = dashboard.page
    result = lr_test_result(stopped_because="diverged", flat_to=1e-5)
    show_lr_test(dashboard, script, result)
    said = page.locator("#lrt-suggestion").inner_text()
    assert said == "The loss barely moves from 1e-6 to 1e-5: keep the current lr."
    stopped = page.locator("#lrt-stopped")
    assert stopped.inner_text() == (
        "Stopped at step 11 of 100: the smoothed loss passed 4× its best."
    )
    assert page.locator("#lrt-apply").is_hidden()
    # The axis spans the range asked for, a label per decade: where it stopped shows.
    assert tick_labels(page) == ["1e-6", "1e-5", "1e-4", "0.001", "0.01", "0.1", "1"]

    page.locator("#lr-test-modal .btn-close").click()
    page.locator("#lr-test-modal").wait_for(state="hidden")
    page.get_by_role("button", name="Language").click()
    page.locator("#lang-menu [data-lang='de']").click()
    page.locator("#events-list .lrt-show").click()
    assert page.locator("#lrt-suggestion").inner_text().startswith("Der Loss bewegt sich")
    assert stopped.inner_text().startswith("Bei Schritt 11 von 100 beendet")


def test_a_narrow_axis_labels_more_than_its_decades(dashboard, script):
    lrs = [1e-4 * 5 ** (i / 10) for i in range(11)]
    payload = lr_test_result(min_lr=1e-4, max_lr=5e-4, lrs=lrs)
    show_lr_test(dashboard, script, payload)
    assert len(tick_labels(dashboard.page)) >= 3


def patches(page) -> list:
    """Every PATCH body the page sends from now on."""
    sent = []
    page.on("request", lambda r: r.method == "PATCH" and sent.append(r.post_data_json))
    return sent


def test_apply_beyond_ten_times_asks_again_then_offers_undo(dashboard, script):
    api, page = dashboard.api, dashboard.page
    result = lr_test_result(verdict="valley", suggested_lr=1e-4, flat_to=None)
    show_lr_test(dashboard, script, result)
    change = page.locator("#lrt-change")
    assert change.inner_text() == "lr 0.1 → 1e-4 (×0.001)"
    sent = patches(page)

    page.locator("#lrt-apply").click()
    ask = page.locator("#lrt-change .change-ask")
    ask.wait_for()
    assert "beyond ×0.1 … ×10" in ask.inner_text() and sent == []
    ask.get_by_role("button", name="Cancel").click()
    assert sent == [] and change.inner_text() == "lr 0.1 → 1e-4 (×0.001)"

    page.locator("#lrt-apply").click()
    page.get_by_role("button", name="Apply anyway").click()
    page.locator("#lrt-change .change-undo").wait_for()
    assert sent == [{"lr": 1e-4}]
    assert "Sent: lr 0.1 → 1e-4 (×0.001)." in change.inner_text()
    dashboard.wait_for(lambda: api.run(script.run.id)["hparams"]["lr"] == pytest.approx(1e-4))

    page.locator("#lrt-change .change-undo").click()
    page.locator("#lrt-change", has_text="Undo sent.").wait_for()
    assert sent[-1] == {"lr": {"scale": pytest.approx(1000)}}
    dashboard.wait_for(lambda: api.run(script.run.id)["hparams"]["lr"] == pytest.approx(0.1))


def test_apply_within_ten_times_goes_at_once(dashboard, script):
    page = dashboard.page
    show_lr_test(dashboard, script, lr_test_result(verdict="valley", suggested_lr=0.05))
    sent = patches(page)
    page.locator("#lrt-apply").click()
    page.locator("#lrt-change .change-undo").wait_for()
    assert sent == [{"lr": 0.05}]
    assert page.locator("#lrt-change .change-ask").count() == 0


def test_a_metric_never_logged_is_refused_and_the_logged_keys_offered(dashboard, script):
    page = dashboard.page
    dashboard.open_run(script.run.id)
    page.get_by_role("button", name="Race").click()
    metric = page.locator("#race-metric")
    assert metric.input_value() == "loss"  # the run's own loss key
    metric.fill("train_loss")
    page.locator("#race-start").click()
    message = page.locator("#race-message.text-danger")
    message.wait_for()
    assert "never logged 'train_loss'" in message.inner_text()
    offered = page.locator("#race-metric-keys option").evaluate_all("os => os.map((o) => o.value)")
    assert offered[0] == "loss"
    assert dashboard.api.events(script.run.id) == [] and len(dashboard.api.runs()) == 1
    page.locator("#race-modal .btn-close").click()
    page.locator("#race-modal").wait_for(state="hidden")

    page.get_by_role("button", name="Find lr").click()
    lrt_metric = page.locator("#lrt-metric")
    assert lrt_metric.input_value() == "loss"
    lrt_metric.fill("train_loss")
    page.locator("#lrt-start").click()
    page.locator("#lrt-message.text-danger", has_text="never logged 'train_loss'").wait_for()
    offered = page.locator("#lrt-metric-keys option").evaluate_all("os => os.map((o) => o.value)")
    assert offered[0] == "loss"
    assert dashboard.api.events(script.run.id) == [] and len(dashboard.api.runs()) == 1
    page.locator("#lr-test-modal .btn-close").click()
    page.locator("#lr-test-modal").wait_for(state="hidden")

    page.locator("#ap-settings-btn").click()
    ap_metric = page.locator("#ap-form [name='plateau.metric']")
    assert ap_metric.input_value() == "loss"
    ap_metric.fill("train_loss")
    page.locator("#ap-form button[type=submit]").click()
    refused = page.locator("#ap-form-message.text-danger")
    refused.wait_for()
    assert "never logged 'train_loss'" in refused.inner_text() and "loss" in refused.inner_text()
    assert "autopilot" not in dashboard.api.run(script.run.id)["config"]
    dashboard.forget_errors("status of 400")


def test_an_autopilot_factor_beyond_a_tenth_asks_again_and_undo_restores(dashboard, script):
    api, page = dashboard.api, dashboard.page
    dashboard.open_run(script.run.id)
    page.locator("#ap-settings-btn").click()
    page.locator("#ap-form [name='plateau.factor']").fill("0.05")
    page.locator("#ap-form button[type=submit]").click()
    ask = page.locator("#ap-change .change-ask")
    ask.wait_for()
    assert "plateau.factor 0.5 → 0.05" in ask.inner_text()
    assert "autopilot" not in api.run(script.run.id)["config"]
    page.get_by_role("button", name="Save anyway").click()
    page.locator("#ap-change .change-undo").wait_for()
    assert api.run(script.run.id)["config"]["autopilot"]["plateau"]["factor"] == 0.05
    assert api.run(script.run.id)["config"]["autopilot"]["plateau"]["metric"] == "loss"
    page.locator("#ap-change .change-undo").click()
    page.locator("#ap-change", has_text="Undo sent.").wait_for()
    dashboard.wait_for(
        lambda: api.run(script.run.id)["config"]["autopilot"]["plateau"]["factor"] == 0.5
    )


def race_result(kept: bool = False) -> dict:
    scores = [0.9, 0.5, None]
    results = [
        {"hparams": {"lr": lr}, "score": score, "run_id": 900 + i}
        for i, (lr, score) in enumerate(zip([0.03, 0.1 if kept else 0.2, 3.0], scores, strict=True))
    ]
    return {
        "results": results,
        "winner": 1,
        "kept": kept,
        "before": {"lr": 0.1},
        "metric": "loss",
        "mode": "min",
        "scored_over": 4,
        "steps": 20,
        "end_step": 40,
    }


def result_cells(page) -> list[list[str]]:
    """The race result table: each variant's hparams, score and outcome (the swatch left out)."""
    rows = page.locator("#race-result-rows tr")
    return [rows.nth(i).locator("td").all_inner_texts()[1:] for i in range(rows.count())]


def test_a_race_shows_every_score_the_rule_and_zooms_to_its_steps(dashboard, script):
    page = dashboard.page
    script.write("events", "race", race_result(), step=20)
    dashboard.open_run(script.run.id)
    # A long opening (a busy page's is late): Zoom is clicked while it still opens, and
    # Bootstrap ignores a hide() then.
    slow = "document.querySelector('#race-result-modal .modal-dialog').style.transitionDuration"
    page.evaluate(f"{slow} = '2s'")
    page.locator("#events-list .race-show").click()
    modal = page.locator("#race-result-modal")
    modal.wait_for(state="visible")
    assert page.locator("#race-result-title").inner_text() == "Race at step 20"
    rule = page.locator("#race-result-rule").inner_text()
    assert rule == "Decided by the lowest mean of loss over each variant's last 4 logged steps."
    rows = page.locator("#race-result-rows tr")
    assert result_cells(page) == [
        ["lr=0.03", "0.9", ""],
        ["lr=0.2", "0.5", "won"],
        ["lr=3", "–", "no score (diverged or logged nothing)"],
    ]
    swatches = rows.locator(".legend-swatch").evaluate_all(
        "els => els.map((e) => getComputedStyle(e).backgroundColor)"
    )
    assert swatches == ["rgb(230, 73, 128)", "rgb(12, 166, 120)", "rgb(250, 176, 5)"]  # race.js

    page.locator("#race-result-zoom").click(force=True)  # at once, while it opens
    modal.wait_for(state="hidden", timeout=10_000)  # closed once it has opened
    x = page.evaluate(
        """() => {
            const c = Chart.getChart(document.querySelector('#chart-block-loss canvas'));
            return [c.scales.x.min, c.scales.x.max];
        }"""
    )
    assert x == [20, 40]


def test_a_race_just_ended_says_what_changed_and_offers_undo(dashboard, script):
    page = dashboard.page
    dashboard.open_run(script.run.id)
    sent = patches(page)
    script.write("events", "race", race_result(), step=20)
    status = page.locator("#decide-status")
    status.locator("xpath=.").filter(has_text="Race won by lr=0.2").wait_for()
    assert "Decided by the lowest mean of loss" in status.inner_text()
    change = page.locator("#decide-change")
    assert change.locator(".change-text").inner_text() == "Changed: lr 0.1 → 0.2 (×2)."
    change.get_by_role("button", name="Undo").click()
    page.locator("#decide-change", has_text="Undo sent.").wait_for()
    assert sent == [{"lr": {"scale": 0.5}}]


def test_a_race_won_by_the_current_values_says_it_kept_them(dashboard, script):
    page = dashboard.page
    dashboard.open_run(script.run.id)
    script.write("events", "race", race_result(kept=True), step=20)
    status = page.locator("#decide-status", has_text="did best; nothing changed")
    status.wait_for()
    assert status.inner_text().startswith("Race: the current values (lr=0.1) did best")
    assert page.locator("#decide-change .change-undo").count() == 0
    row = page.locator("#events-list li[data-kind='race']")
    assert re.search(r"the current values \(lr=0\.1\) kept", row.inner_text())


def test_a_race_too_close_to_call_says_so_with_every_scores_noise(dashboard, script):
    page = dashboard.page
    dashboard.open_run(script.run.id)
    race = race_result(kept=True)
    race["results"][0]["score"] = 0.49  # better than the current values' 0.5, by noise
    for result, uncertainty in zip(race["results"], [0.02, 0.015, None], strict=True):
        result["uncertainty"] = uncertainty
    race |= {"too_close": True, "noise_margin": 2.0, "end_step": 20}
    script.write("events", "race", race, step=20)
    status = page.locator("#decide-status", has_text="too close to call")
    status.wait_for()
    assert status.inner_text().startswith(
        "Race too close to call: no variant beat the current values (lr=0.1) by more than the "
        "noise; the run goes on from where the race began, unchanged."
    )
    assert page.locator("#decide-change .change-undo").count() == 0
    row = page.locator("#events-list li[data-kind='race']")
    assert "too close to call, the current values (lr=0.1) kept" in row.inner_text()

    row.locator(".race-show").click()
    page.locator("#race-result-modal").wait_for(state="visible")
    assert (
        page.locator("#race-result-rule")
        .inner_text()
        .endswith(
            "The values the race began with change only for a variant better than them by more "
            "than 2 standard errors."
        )
    )
    assert result_cells(page) == [
        ["lr=0.03", "0.49 ± 0.02", ""],
        ["lr=0.1", "0.5 ± 0.015", "kept: no variant did better by more than the noise"],
        ["lr=3", "–", "no score (diverged or logged nothing)"],
    ]


def test_the_race_dialog_says_what_each_row_changes_and_asks_again_beyond_ten(dashboard):
    api, page = dashboard.api, dashboard.page
    loop = ScriptRun(dashboard.server.db_path, "odd lr", {"lr": 0.01874}, live=["lr"])
    try:
        api.wait_step(loop.run.id, 5)
        dashboard.open_run(loop.run.id)
        page.get_by_role("button", name="Race").click()
        rows = page.locator("#race-rows tr")
        rows.first.wait_for()
        assert rows.nth(1).locator("input[data-key='lr']").input_value() == "0.01874"  # exact
        changes = page.locator("#race-rows .race-row-change").all_inner_texts()
        assert changes == [
            "lr 0.01874 → 0.00562 (×0.3)",
            "unchanged (×1)",
            "lr 0.01874 → 0.0562 (×3)",
        ]
        rows.nth(2).locator("input[data-key='lr']").fill("1")
        assert "(×53)" in rows.nth(2).locator(".race-row-change").inner_text()
        posts = []
        page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
        page.locator("#race-start").click()
        ask = page.locator("#race-change .change-ask")
        ask.wait_for()
        assert "variant 3: lr 0.01874 → 1 (×53)" in ask.inner_text()
        ask.get_by_role("button", name="Cancel").click()
        assert posts == []
    finally:
        loop.finish()
