"""What a person looks for first, first: a plain AdamW script's loss heads the page, then its
other metrics, lr, gradient health and system metrics. Panels can be pinned, moved and
collapsed; the layout is the database's, so a reload and a second window show it too."""

from __future__ import annotations

import pytest
from adamw_script import serve_one_run

pytestmark = pytest.mark.browser

PANELS = (
    "() => [...document.querySelectorAll('#chart-stack [data-chart]')].map((b) => b.dataset.chart)"
)
DEFAULT_ORDER = ["loss", "accuracy", "lr", "grad", "update", "sys", "sys MB"]
NO_LAYOUT = {"order": [], "pinned": [], "collapsed": []}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One app and one finished run for this module's tests (training it takes a while)."""
    yield from serve_one_run(tmp_path_factory, steps=80)


@pytest.fixture(autouse=True)
def no_layout(server):
    """Each test starts from the default order."""
    assert server.api.request("PUT", "/api/layout", json=NO_LAYOUT).status_code == 200


def test_the_loss_heads_the_page_then_metrics_lr_gradients_and_system(dashboard, server):
    page = dashboard.page
    dashboard.open_run(server.run_id)
    assert page.evaluate(PANELS) == DEFAULT_ORDER
    first = page.locator("#chart-stack [data-chart]").first
    assert first.locator("[data-title]").inner_text() == "Loss"
    assert first.bounding_box()["y"] < page.viewport_size["height"] / 2

    page.evaluate("document.querySelector('#lang-menu [data-lang=de]').click()")
    titles = page.locator("#chart-stack [data-title]").all_inner_texts()
    assert titles[:3] == ["Verlust", "Genauigkeit", "Lernrate"]
    buttons = first.locator("[data-panel-pin], [data-panel-move], [data-panel-collapse]")
    assert [b.get_attribute("aria-label") for b in buttons.all()] == [
        "Einklappen",
        "Oben anheften",
        "Nach oben",
        "Nach unten",
    ]
    page.evaluate("document.querySelector('#lang-menu [data-lang=en]').click()")
    assert first.locator("[data-panel-pin]").get_attribute("title") == "Pin to the top"


def test_pinned_moved_and_collapsed_panels_are_kept_for_every_window(dashboard, server, browser):
    page, api = dashboard.page, dashboard.api
    dashboard.open_run(server.run_id)

    def press(slug: str, control: str) -> None:
        saved = lambda r: r.url.endswith("/api/layout") and r.request.method == "PUT"  # noqa: E731
        with page.expect_response(saved) as answer:
            page.locator(f"#chart-block-{slug} {control}").click()
        assert answer.value.status == 200

    press("sys", "[data-panel-pin]")
    assert page.evaluate(PANELS)[0] == "sys"
    assert page.locator("#chart-block-sys [data-panel-pin]").get_attribute("aria-pressed") == "true"
    press("grad", "[data-panel-move='up']")
    press("accuracy", "[data-panel-collapse]")
    expected = ["sys", "loss", "accuracy", "grad", "lr", "update", "sys MB"]
    assert page.evaluate(PANELS) == expected
    collapsed = (
        "(b) => b.hasAttribute('data-collapsed') && !Chart.getChart(b.querySelector('canvas'))"
    )
    assert page.locator("#chart-block-accuracy").evaluate(collapsed)
    assert page.locator("#chart-block-accuracy .chart-wrap").is_hidden()
    assert api.get("/api/layout").get_json() == {
        "order": ["loss", "accuracy", "grad", "lr"],
        "pinned": ["sys"],
        "collapsed": ["accuracy"],
    }

    page.reload()
    page.wait_for_selector("html[data-ready][data-connection='online']")
    dashboard.open_run(server.run_id)
    assert page.evaluate(PANELS) == expected
    assert page.locator("#chart-block-accuracy").evaluate(collapsed)

    # A second window on the same database (the desktop app beside a browser) shows the same,
    # and what it changes the first one shows once it opens the run again.
    other = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    try:
        second = other.new_page()
        second.goto(f"{server.base_url}/?token={server.token}")
        second.wait_for_selector("html[data-ready][data-connection='online']")
        second.evaluate(f"location.hash = '#/run/{server.run_id}'")
        second.wait_for_selector(f"html[data-charts-rendered='{server.run_id}']")
        assert second.evaluate(PANELS) == expected
        assert second.locator("#chart-block-accuracy").evaluate(collapsed)
        second.locator("#chart-block-accuracy [data-panel-collapse]").click()
        second.locator("#chart-block-sys [data-panel-pin]").click()
        dashboard.wait_for(lambda: api.get("/api/layout").get_json()["pinned"] == [])
        drawn = "(b) => !!Chart.getChart(b.querySelector('canvas'))"
        assert second.locator("#chart-block-accuracy").evaluate(drawn)
    finally:
        other.close()
    page.evaluate("location.hash = '#/'")
    dashboard.open_run(server.run_id)
    assert page.evaluate(PANELS) == ["loss", "accuracy", "grad", "lr", "update", "sys", "sys MB"]
    assert page.locator("#chart-block-accuracy").evaluate(
        "(b) => !b.hasAttribute('data-collapsed')"
    )
