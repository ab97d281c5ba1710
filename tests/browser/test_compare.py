"""Several runs overlaid, one colour each, with their hparams side by side."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_two_runs_overlaid_in_compare(dashboard):
    api, page = dashboard.api, dashboard.page
    slow = api.start(name="slow lr", lr=0.01, delay_ms=10.0)
    fast = api.start(name="fast lr", lr=0.3, delay_ms=10.0)
    for run in (slow, fast):
        api.wait_step(run["id"], 20)

    page.get_by_role("checkbox", name="Compare slow lr").check()
    page.get_by_role("checkbox", name="Compare fast lr").check()
    page.get_by_role("button", name="Compare (2)").click()
    page.locator("#view-compare").wait_for()
    assert page.evaluate("location.hash") == f"#/compare/{slow['id']},{fast['id']}"

    for run in (slow, fast):
        dashboard.wait_for(lambda r=run: len(dashboard.series("cmp", str(r["id"]))) >= 20)
    colours = page.evaluate(
        """() => Chart.getChart(document.querySelector('#cmp-chart-block canvas'))
            .data.datasets.filter((d) => !d.lkId.endsWith(':smoothed')).map((d) => d.borderColor)"""
    )
    assert len(colours) == 2 and colours[0] != colours[1]
    legend = page.locator("#cmp-chart-block [data-legend] .legend-item")
    assert legend.all_inner_texts() == [f"slow lr (#{slow['id']})", f"fast lr (#{fast['id']})"]

    # The runs table: a row per run, newest first, a column per hparam that differs.
    names = page.locator("#cmp-table tbody th[data-col='name']")
    assert names.all_inner_texts() == [f"fast lr (#{fast['id']})", f"slow lr (#{slow['id']})"]
    lr_cells = page.locator("#cmp-table tbody td[data-col='hp:lr']")
    assert lr_cells.all_inner_texts() == ["0.3", "0.01"]
    assert "differs" in page.locator("#cmp-table thead th[data-col='hp:lr']").get_attribute("class")

    # Another metric redraws both runs' curves of that metric.
    page.select_option("#cmp-metric", "lr")
    for run, lr in ((slow, 0.01), (fast, 0.3)):
        dashboard.wait_for(
            lambda r=run, v=lr: {y for _, y in dashboard.series("cmp", str(r["id"]))} == {v}
        )

    # Unticking a run drops it from the open comparison.
    page.get_by_role("checkbox", name="Compare slow lr").uncheck()
    dashboard.wait_for(lambda: page.evaluate("location.hash") == f"#/compare/{fast['id']}")
    # (the hash is set at once; the page routes on its hashchange event, a task later)
    dashboard.wait_for(lambda: dashboard.series("cmp", str(slow["id"])) == [])
    assert len(dashboard.series("cmp", str(fast["id"]))) >= 20
