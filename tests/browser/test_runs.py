"""Starting, steering and watching runs from the dashboard, in real Chromium."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

SLOW = {"delay_ms": 25.0}  # ~40 steps/s: live, yet slow enough to watch step by step


def test_start_run_from_form_and_watch_loss_chart_grow(dashboard):
    page = dashboard.page
    page.click("#new-run-btn")
    page.select_option("#new-task", "spiral")
    page.fill("#new-name", "from the form")
    dashboard.field("#new-hparams", "delay_ms").fill("10")
    page.get_by_role("button", name="Start run").click()

    page.wait_for_function("() => location.hash.startsWith('#/run/')")
    run_id = int(page.evaluate("location.hash.split('/')[2]"))
    run = dashboard.api.run(run_id)
    assert run["name"] == "from the form"
    assert run["hparams"]["delay_ms"] == 10.0
    assert page.locator(f"#runs-list [data-run-id='{run_id}']").is_visible()

    first = dashboard.wait_for(lambda: len(dashboard.series("loss", "train_loss")) >= 3)
    assert dashboard.wait_for(lambda: len(dashboard.series("loss", "train_loss")) > first + 10)
    assert len(dashboard.series("lr", "lr")) > 0
    assert page.locator("#run-status").get_attribute("data-status") == "running"


def test_lr_change_in_panel_draws_marker_and_changes_the_run(dashboard):
    run = dashboard.api.start(name="steer me", **SLOW)
    dashboard.open_run(run["id"])
    page = dashboard.page
    lr = dashboard.field("#hp-live", "lr")
    assert lr.input_value() == "0.1"
    lr.fill("0.02")
    page.get_by_role("button", name="Apply").click()

    assert dashboard.wait_for(lambda: dashboard.api.run(run["id"])["hparams"]["lr"] == 0.02)
    markers = dashboard.wait_for(
        lambda: [m for m in dashboard.markers("loss") if "lr: 0.1 → 0.02" in m["label"]]
    )
    assert markers and markers == [
        m for m in dashboard.markers("lr") if "lr: 0.1 → 0.02" in m["label"]
    ]
    page.locator("#events-list li[data-kind='hparams']", has_text="lr: 0.1 → 0.02").wait_for()
    page.locator("#hp-live [data-key='lr'] .hp-now", has_text="now 0.02").wait_for()
    # The lr chart shows the new value from the step the change took effect.
    dashboard.wait_for(lambda: dashboard.series("lr", "lr")[-1][1] == pytest.approx(0.02))


def test_pause_step_resume_stop_from_the_buttons(dashboard):
    run = dashboard.api.start(name="controlled", **SLOW)
    dashboard.open_run(run["id"])
    page, api, run_id = dashboard.page, dashboard.api, run["id"]
    status = page.locator("#run-status")
    button = {
        n: page.get_by_role("button", name=n, exact=True)
        for n in ("Pause", "Resume", "Step", "Stop", "Checkpoint")
    }
    page.wait_for_selector("#run-status[data-status='running']")
    assert button["Pause"].is_enabled() and button["Stop"].is_enabled()
    assert button["Resume"].is_disabled() and button["Step"].is_disabled()

    button["Pause"].click()
    page.wait_for_selector("#run-status[data-status='paused']")
    assert api.run(run_id)["status"] == "paused"
    assert button["Pause"].is_disabled() and button["Resume"].is_enabled()

    before = api.run(run_id)["step"]
    button["Step"].click()
    dashboard.wait_for(lambda: api.run(run_id)["step"] == before + 1)
    step_text = page.locator("#run-step")
    dashboard.wait_for(lambda: f"Step {before + 1} of" in step_text.inner_text())
    assert status.get_attribute("data-status") == "paused"

    button["Resume"].click()
    page.wait_for_selector("#run-status[data-status='running']")
    assert api.run(run_id)["status"] == "running"

    # Space toggles pause when no control has the focus.
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Space")
    page.wait_for_selector("#run-status[data-status='paused']")
    page.keyboard.press("Space")
    page.wait_for_selector("#run-status[data-status='running']")

    button["Stop"].click()
    page.wait_for_selector("#run-status[data-status='stopped']")
    assert api.run(run_id)["status"] == "stopped"
    for name, b in button.items():
        assert b.is_disabled(), name
    assert page.locator(f"#runs-list [data-run-id='{run_id}'] .badge").inner_text() == "stopped"


def test_out_of_range_values_show_the_servers_message_and_change_nothing(dashboard):
    run = dashboard.api.start(name="guarded", **SLOW)
    dashboard.open_run(run["id"])
    page = dashboard.page
    dashboard.field("#hp-live", "lr").fill("50")
    page.get_by_role("button", name="Apply").click()
    feedback = page.locator("#hp-live [data-key='lr'] .invalid-feedback")
    feedback.wait_for()
    message = feedback.inner_text()
    assert message.startswith("lr must be between") and "50" in message
    assert page.locator("#hp-message").inner_text() == message
    assert dashboard.api.run(run["id"])["hparams"]["lr"] == 0.1
    assert not [e for e in dashboard.api.events(run["id"]) if e["kind"] == "hparams"]

    # The new-run form shows the server's message at the field and starts nothing.
    runs_before = len(dashboard.api.runs())
    page.click("#new-run-btn")
    dashboard.field("#new-hparams", "epochs").fill("0")
    page.get_by_role("button", name="Start run").click()
    epochs = page.locator("#new-hparams [data-key='epochs'] .invalid-feedback")
    epochs.wait_for()
    assert epochs.inner_text().startswith("epochs must be between 1 and")
    assert dashboard.field("#new-hparams", "epochs").get_attribute("aria-invalid") == "true"
    assert len(dashboard.api.runs()) == runs_before
    # Chromium itself logs every refused request; those two were the point of this test.
    assert len([e for e in dashboard.errors if "status of 400" in e]) == 2
    dashboard.forget_errors("status of 400")


def test_sidebar_lists_runs_newest_first_with_live_badges_and_filter(dashboard):
    api, page = dashboard.api, dashboard.page
    first = api.start(name="alpha run", **SLOW)
    second = api.start(name="beta run", **SLOW)
    items = page.locator("#runs-list li")
    dashboard.wait_for(lambda: items.count() == 2)
    assert items.nth(0).get_attribute("data-run-id") == str(second["id"])
    assert items.nth(1).get_attribute("data-run-id") == str(first["id"])

    api.control(first["id"], "stop")
    badge = page.locator(f"#runs-list [data-run-id='{first['id']}'] .badge")
    dashboard.wait_for(lambda: badge.get_attribute("data-status") == "stopped")

    page.fill("#runs-filter", "beta")
    assert items.nth(0).is_visible() and items.nth(1).is_hidden()
    page.fill("#runs-filter", "nothing like it")
    assert page.locator("#runs-nomatch").is_visible()


def test_a_run_deleted_elsewhere_leaves_the_open_page(dashboard):
    run = dashboard.api.start(name="short", epochs=1)
    dashboard.open_run(run["id"])
    dashboard.api.wait_status(run["id"], "completed")
    item = dashboard.page.locator(f"#runs-list [data-run-id='{run['id']}']")
    item.wait_for(state="visible", timeout=10_000)  # the list hears of it from the stream
    assert dashboard.api.delete(f"/api/runs/{run['id']}").status_code == 204
    item.wait_for(state="detached", timeout=10_000)
    dashboard.page.wait_for_function("() => !location.hash.startsWith('#/run/')")
    # A request of the open view that was under way when the run went may meet a 404: the
    # ones still under way end first.
    dashboard.settle(timeout=10.0)
    assert not dashboard.pending
    dashboard.forget_errors("status of 404")
