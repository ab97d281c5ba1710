"""Theme, language, checkpoints and forks, and a page that stays offline and quiet."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_theme_and_language_follow_the_system_and_can_be_switched(browser, server):
    context = browser.new_context(locale="de-DE", color_scheme="dark")
    try:
        page = context.new_page()
        page.goto(f"{server.base_url}/?token={server.token}")
        page.wait_for_selector("html[data-ready]")
        html = page.locator("html")
        assert html.get_attribute("data-bs-theme") == "dark"
        assert html.get_attribute("lang") == "de"
        assert page.locator("#new-run-btn").inner_text().strip() == "Neuer Lauf"
        assert page.locator("[data-action='pause']").get_attribute("aria-label") == "Pausieren"

        page.get_by_role("button", name="Farbschema").click()
        page.locator("#theme-menu [data-theme='light']").click()
        assert html.get_attribute("data-bs-theme") == "light"
        page.get_by_role("button", name="Sprache").click()
        page.locator("#lang-menu [data-lang='en']").click()
        assert html.get_attribute("lang") == "en"
        assert page.locator("#new-run-btn").inner_text().strip() == "New run"
        assert page.locator("[data-action='pause']").get_attribute("aria-label") == "Pause"

        page.reload()  # both choices are remembered
        page.wait_for_selector("html[data-ready]")
        assert html.get_attribute("data-bs-theme") == "light"
        assert html.get_attribute("lang") == "en"
    finally:
        context.close()


def test_checkpoint_then_fork_from_it(dashboard):
    api, page = dashboard.api, dashboard.page
    run = api.start(name="trunk", delay_ms=20.0)
    dashboard.open_run(run["id"])
    page.wait_for_selector("#run-status[data-status='running']")
    page.get_by_role("button", name="Checkpoint").click()
    fork = page.locator("#ckpt-list").get_by_role("button", name="Fork").first
    fork.wait_for()
    page.locator("#events-list li[data-kind='checkpoint']").wait_for()
    dashboard.wait_for(  # the chart draws its markers on its next frame
        lambda: any(m["label"] == ["Checkpoint saved"] for m in dashboard.markers("loss"))
    )

    fork.click()
    page.locator("#new-run-modal").wait_for()
    assert page.locator("#new-run-title").inner_text().startswith("Fork “trunk” from step")
    page.fill("#new-name", "branch")
    dashboard.field("#new-hparams", "lr").fill("0.05")
    page.get_by_role("button", name="Fork run").click()
    page.wait_for_function("() => document.getElementById('run-name').textContent === 'branch'")
    branch = api.run(int(page.evaluate("location.hash.split('/')[2]")))
    assert branch["parent_id"] == run["id"] and branch["hparams"]["lr"] == 0.05
    assert page.locator("#run-parent a").get_attribute("href") == f"#/run/{run['id']}"


def test_whole_page_makes_no_outside_request_and_logs_no_error(dashboard):
    api, page = dashboard.api, dashboard.page
    first = api.start(name="one", delay_ms=10.0)
    second = api.start(name="two", task="digits", delay_ms=10.0)
    api.wait_step(second["id"], 5)
    for run in (first, second):
        dashboard.open_run(run["id"])
        page.click("label[for='xmode-time']")
        page.locator("#smoothing").fill("0.9")
        page.locator("#chart-block-loss label[for='log-loss']").click()
        page.locator("#chart-block-loss canvas").hover()
        page.get_by_role("button", name="Reset zoom").click()
    page.get_by_role("checkbox", name="Compare one").check()
    page.get_by_role("checkbox", name="Compare two").check()
    page.get_by_role("button", name="Compare (2)").click()
    dashboard.wait_for(lambda: len(dashboard.series("cmp", str(second["id"]))) > 0)
    page.click("#new-run-btn")
    page.select_option("#new-task", "digits")
    page.keyboard.press("Escape")
    page.evaluate("location.hash = '#/'")
    page.locator("#view-empty").wait_for()
    # The fixture fails this test on any console error or request beyond 127.0.0.1.
    assert dashboard.errors == [] and dashboard.external == []
