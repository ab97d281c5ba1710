"""Issue 22, item 8: with no runs, the start page says how to connect your own script, its
init line naming this app's database."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

LINES = [
    "import lernkurve",
    "run = lernkurve.init(",
    "run.watch(model, optimizer)",
    "for step in run.steps(",
    'run.log({"loss": loss}, step=step)',
]


@pytest.mark.parametrize(
    ("lang", "title", "copy"),
    [
        ("en", "Use it from your own script", "Copy"),
        ("de", "Aus deinem eigenen Skript nutzen", "Kopieren"),
    ],
)
def test_the_empty_start_page_shows_how_to_connect_a_script(dashboard, lang, title, copy):
    page = dashboard.page
    page.evaluate(f"localStorage.setItem('lernkurve.lang', '{lang}')")
    page.reload()
    page.wait_for_selector("html[data-ready][data-connection='online']")

    panel = page.locator("#empty-script")
    panel.wait_for()
    assert page.locator("#empty-script-heading").inner_text() == title
    assert "pip install lernkurve" in panel.inner_text()
    assert "LERNKURVE_DB" in panel.inner_text()
    page.locator("#start-code", has_text="db=").wait_for()
    code = page.locator("#start-code").inner_text()
    for line in LINES:
        assert line in code
    # The init line names this app's database: the copied lines join it as they are.
    init = next(line for line in code.splitlines() if "lernkurve.init(" in line)
    assert init.endswith(f', db="{dashboard.server.db_path}")'), init
    # Beside the built-in tasks: the button that starts one is still there.
    assert page.locator("#empty-new-run").is_visible()

    # Copy: the lines go to the clipboard, or (no clipboard) are selected to copy by hand.
    page.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=dashboard.server.base_url
    )
    button = page.locator("#start-copy")
    assert button.inner_text().strip() == copy
    button.click()
    dashboard.wait_for(lambda: page.locator("#start-copied").inner_text() != "")
    copied = page.evaluate("navigator.clipboard.readText().catch(() => getSelection().toString())")
    assert copied.strip() == code.strip()

    # A run appears: the panel goes; the run's page needs no how-to.
    run = dashboard.api.start(name="first", delay_ms=20.0)
    dashboard.wait_for(lambda: not panel.is_visible())
    page.evaluate("location.hash = '#/'")
    page.locator("#view-empty").wait_for()
    assert not panel.is_visible()
    dashboard.api.control(run["id"], "stop")
    dashboard.api.wait_status(run["id"], "stopped")
