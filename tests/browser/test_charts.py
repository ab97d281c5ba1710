"""What the charts offer beyond live points: smoothing, log scale, time axis, zoom, series."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

CHART_STATE = """(name) => {
    const c = Chart.getChart(document.querySelector(`#chart-block-${name} canvas`));
    const byId = Object.fromEntries(c.data.datasets.map((d) => [d.lkId, d]));
    return {
        zoomed: c.isZoomedOrPanned(), xmin: c.scales.x.min, xmax: c.scales.x.max,
        ytype: c.options.scales.y.type,
        raw: byId.train_loss ? byId.train_loss.data.map((p) => [p.x, p.y]) : [],
        smooth: byId['train_loss:smoothed'] ? byId['train_loss:smoothed'].data.map((p) => p.y) : [],
        hidden: byId.train_loss ? [byId.train_loss.hidden, byId['train_loss:smoothed'].hidden] : [],
    };
}"""


def tensorboard_ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing (vz_line_chart2), the reference the chart must match."""
    last, out = 0.0, []
    for count, v in enumerate(values, start=1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**count))
    return out


def test_smoothing_log_scale_time_axis_zoom_and_series_toggle(dashboard):
    api, page = dashboard.api, dashboard.page
    run = api.start(name="inspect", delay_ms=5.0)
    api.wait_step(run["id"], 80)
    api.control(run["id"], "pause")
    api.wait_status(run["id"], "paused")
    dashboard.open_run(run["id"])
    state = lambda: page.evaluate(CHART_STATE, "loss")  # noqa: E731

    # Smoothing: TensorBoard's debiased EMA of the raw points, at the slider's weight.
    page.locator("#smoothing").fill("0.8")
    s = state()
    raw = [y for _, y in s["raw"]]
    assert s["smooth"] == pytest.approx(tensorboard_ema(raw, 0.8))
    page.locator("#smoothing").fill("0")
    assert state()["hidden"] == [False, True]

    page.locator("label[for='log-loss']").click()
    assert state()["ytype"] == "logarithmic"

    # x by time: seconds since the run started, not steps.
    page.click("label[for='xmode-time']")
    xs = [x for x, _ in state()["raw"]]
    assert xs[-1] < 60 and xs != [p[0] for p in api.points(run["id"], "train_loss")]
    page.click("label[for='xmode-step']")

    # Drag on one chart zooms x on every chart; Shift+drag pans; double-click and the
    # "Reset zoom" button undo it.
    box = page.locator("#chart-block-loss canvas").bounding_box()
    y = box["y"] + box["height"] / 2

    def drag(start: float, end: float) -> None:
        page.mouse.move(box["x"] + box["width"] * start, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * end, y, steps=8)
        page.mouse.up()

    drag(0.3, 0.6)
    loss, lr = state(), page.evaluate(CHART_STATE, "lr")
    assert loss["zoomed"] and lr["zoomed"]
    assert (lr["xmin"], lr["xmax"]) == pytest.approx((loss["xmin"], loss["xmax"]))
    page.keyboard.down("Shift")
    drag(0.6, 0.4)
    page.keyboard.up("Shift")
    panned = state()
    assert panned["xmin"] > loss["xmin"]
    assert panned["xmax"] - panned["xmin"] == pytest.approx(loss["xmax"] - loss["xmin"])
    page.locator("#chart-block-loss canvas").dblclick()
    assert not state()["zoomed"] and not page.evaluate(CHART_STATE, "lr")["zoomed"]
    drag(0.2, 0.5)
    assert state()["zoomed"]
    page.get_by_role("button", name="Reset zoom").click()
    assert not state()["zoomed"] and not page.evaluate(CHART_STATE, "lr")["zoomed"]

    # Hide and show a series from its legend button.
    toggle = page.locator("#chart-block-loss [data-series='train_loss']")
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "false" and state()["hidden"] == [True, True]
    toggle.click()
    assert state()["hidden"] == [False, True]
