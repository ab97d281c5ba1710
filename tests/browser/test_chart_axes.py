"""What the charts of a plain AdamW script's run draw: one quantity per axis, a log axis that
spans its data after a reload, smoothing that leaves a sparse series where it was measured, one
x range for all charts with round ticks, and lr series named alike.

Asserted on Chart.js's own datasets and scales, over a real run (tests/browser/adamw_script.py).
"""

from __future__ import annotations

import pytest
from adamw_script import serve_one_run

pytestmark = pytest.mark.browser

STEPS = 130  # the last step, 129, is not a round number: an axis that rounds out shows it

CHARTS = """() => Object.fromEntries([...document.querySelectorAll('#chart-stack [data-chart]')]
    .map((block) => {
        const c = Chart.getChart(block.querySelector('canvas'));
        if (!c) return [block.dataset.chart, null];
        return [block.dataset.chart, {
            sets: c.data.datasets.map((d) => ({
                id: d.lkId, label: d.label, hidden: !!d.hidden, radius: d.pointRadius ?? 0,
                points: d.data.map((p) => [p.x, p.y]),
            })),
            x: [c.scales.x.min, c.scales.x.max],
            area: [c.chartArea.left, c.chartArea.right],
            ticks: c.scales.x.ticks.map((t) => [t.value, t.label]),
            y: [c.options.scales.y.type, c.scales.y.min, c.scales.y.max],
        }];
    }))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One app and one finished run for this module's tests (training it takes a while)."""
    yield from serve_one_run(tmp_path_factory, STEPS)


def charts(page) -> dict:
    return page.evaluate(CHARTS)


def series(chart: dict, key: str) -> dict:
    return next(s for s in chart["sets"] if s["id"] == key)


def keys_of(chart: dict) -> set[str]:
    return {s["id"] for s in chart["sets"] if not s["id"].endswith(":smoothed")}


def all_points(api, run_id: int) -> dict[str, list]:
    return api.get(f"/api/runs/{run_id}/metrics").get_json()["series"]


def tensorboard_ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing (vz_line_chart2), for a series logged every step."""
    last, out = 0.0, []
    for count, v in enumerate(values, start=1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**count))
    return out


def test_a_chart_holds_one_quantity_across_its_prefixes(dashboard, server):
    page = dashboard.page
    dashboard.open_run(server.run_id)
    drawn = charts(page)

    assert keys_of(drawn["loss"]) == {"train/loss", "val/loss"}
    assert keys_of(drawn["accuracy"]) == {"train/acc", "val/acc"}
    for name, chart in drawn.items():
        keys = keys_of(chart)
        has_loss = any("loss" in key for key in keys)
        has_acc = any(key.endswith(("/acc", "_acc")) for key in keys)
        assert not (has_loss and has_acc), f"{name} mixes a loss and an accuracy: {keys}"

    # Both param groups' lr by one name, in both languages.
    assert [s["label"] for s in drawn["lr"]["sets"] if s["id"] in ("lr", "lr/group1")] == [
        "lr",
        "lr (group 1)",
    ]
    page.evaluate("document.querySelector('#lang-menu [data-lang=de]').click()")
    labels = page.locator("#chart-block-lr [data-legend] .legend-item").all_inner_texts()
    assert labels == ["lr", "lr (Gruppe 1)"]
    page.evaluate("document.querySelector('#lang-menu [data-lang=en]').click()")


def test_a_log_axis_spans_its_data_after_a_reload(dashboard, server):
    page = dashboard.page
    page.reload()
    page.wait_for_selector("html[data-ready][data-connection='online']")
    dashboard.open_run(server.run_id)

    ratios = [
        value
        for key, rows in all_points(dashboard.api, server.run_id).items()
        if key.startswith("update/ratio/")
        for _, value, _ in rows
    ]
    assert 0 in ratios  # the unused parameter: a log axis cannot show it
    lowest, highest = min(v for v in ratios if v > 0), max(ratios)
    kind, y_min, y_max = charts(page)["update"]["y"]
    assert kind == "logarithmic"
    assert lowest / 10 < y_min <= lowest and highest <= y_max < highest * 10


def test_smoothing_leaves_a_sparse_val_series_where_it_was_measured(dashboard, server):
    page = dashboard.page
    dashboard.open_run(server.run_id)
    assert page.locator("#smoothing").input_value() == "0.6"
    loss = charts(page)["loss"]

    raw = series(loss, "val/loss")
    smoothed = series(loss, "val/loss:smoothed")
    assert len(raw["points"]) == len(smoothed["points"]) >= 5
    for (step, value), (_, smooth) in zip(raw["points"], smoothed["points"], strict=True):
        assert smooth == pytest.approx(value, rel=0.01), f"val/loss bent at step {step}"
    # The dense series is smoothed as TensorBoard smooths it, and every raw point is drawn:
    # the faint line under the smoothed one, and dots where a series is sparse.
    train = [y for _, y in series(loss, "train/loss")["points"]]
    train_smoothed = [y for _, y in series(loss, "train/loss:smoothed")["points"]]
    assert train_smoothed == pytest.approx(tensorboard_ema(train, 0.6))
    assert not raw["hidden"] and not series(loss, "train/loss")["hidden"]
    assert raw["radius"] > 0


def test_charts_share_the_runs_x_range_and_tick_at_round_numbers(dashboard, server):
    page = dashboard.page
    dashboard.open_run(server.run_id)
    steps = [row[0] for rows in all_points(dashboard.api, server.run_id).values() for row in rows]
    drawn = charts(page)
    assert len(drawn) >= 7 and None not in drawn.values()
    assert {name: tuple(c["x"]) for name, c in drawn.items()} == {
        name: (0, max(steps)) for name in drawn
    }
    # Their plot areas line up too, whatever their y labels' widths (1e-5 beside 0.7).
    assert len({tuple(c["area"]) for c in drawn.values()}) == 1

    # Zoomed by a drag, every chart shows the same range, its ticks on whole steps.
    box = page.locator("#chart-block-loss canvas").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.33, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.71, y, steps=8)
    page.mouse.up()
    dashboard.wait_for(lambda: len({tuple(c["x"]) for c in charts(page).values()}) == 1)
    zoomed = charts(page)
    low, high = zoomed["loss"]["x"]
    assert 0 < low < high < max(steps) and low != int(low)
    for name, chart in zoomed.items():
        assert chart["ticks"], name
        for value, label in chart["ticks"]:
            assert value == int(value) and label == f"{int(value):,}", (name, value, label)

    # On the time axis too, the charts share one range.
    page.locator("#chart-block-loss canvas").dblclick()
    page.click("label[for='xmode-time']")
    dashboard.wait_for(lambda: len({tuple(c["x"]) for c in charts(page).values()}) == 1)
    page.click("label[for='xmode-step']")
