"""Compare at scale (issue 22, item 5): a runs table of 200 runs sorted by best value and
filtered, 20 runs in 20 colours (then dashes), parallel coordinates with a line per run, a key
of one script mapped to another's name, and an lr that changed twice shown as its path."""

from __future__ import annotations

import time

import pytest
from script_runs import ScriptRun

pytestmark = pytest.mark.browser

STEPS = 11
BATCHES = [16, 32, 64, 128]

DATASETS = """() => Chart.getChart(document.querySelector('#cmp-chart-block canvas'))
    .data.datasets.filter((d) => !d.lkId.endsWith(':smoothed'))
    .map((d) => ({id: d.lkId, color: d.borderColor, dash: d.borderDash || [], n: d.data.length}))"""


def seed(server, name: str, hparams: dict, curve: dict) -> int:
    """A finished run written straight into the database: its points and chart buckets."""
    from lernkurve.store.points import expand_points

    db = server.app.extensions["lernkurve"].db
    stamp = time.time() - 60
    run_id = db.insert_run(
        name=name, task="script", status="completed", hparams=hparams, step=STEPS - 1,
        total_steps=STEPS, started_at=stamp, ended_at=stamp + STEPS,
    ).id  # fmt: skip
    points = [(s, stamp + s, {key: f(s) for key, f in curve.items()}) for s in range(STEPS)]
    rows, _, buckets = expand_points(run_id, points)
    with db.engine.begin() as conn:
        db.insert_metrics(conn, rows)
        db.upsert_buckets(conn, run_id, buckets)
    return run_id


def valley(best: float):
    """Down to `best` at step 5, then up again: best and last differ."""
    return lambda s: best + abs(s - 5) * 0.1


def reload(dashboard, hash_: str) -> None:
    page = dashboard.page
    page.reload()
    page.wait_for_selector("html[data-ready][data-connection='online']")
    page.evaluate(f"location.hash = '{hash_}'")
    page.locator("#view-compare").wait_for()


def row_ids(page) -> list[int]:
    return page.evaluate(
        "() => [...document.querySelectorAll('#cmp-table tbody tr')].map((r) => +r.dataset.runId)"
    )


def test_two_hundred_runs_sort_by_best_filter_and_draw_a_line_each(dashboard):
    page, server = dashboard.page, dashboard.server
    best = {}
    for i in range(200):
        hparams = {"lr": round(0.001 * (1 + i % 50), 6), "batch_size": BATCHES[i % 4], "seed": i}
        value = ((i * 37 + 11) % 200) / 100 + 0.01
        run_id = seed(server, f"sweep-{i:03d}", hparams, {"train_loss": valley(value)})
        best[run_id] = (value, hparams)

    started = time.perf_counter()
    reload(dashboard, "#/compare/")
    rows = page.locator("#cmp-table tbody tr")
    dashboard.wait_for(lambda: rows.count() == 200)
    best_cells = page.locator("#cmp-table tbody td[data-col='best']")
    dashboard.wait_for(lambda: best_cells.first.inner_text() != "–")
    print(f"\n200 runs: table with summaries in {time.perf_counter() - started:.2f} s")
    # A column per differing hparam, beside name, status, tags and best/last of the metric.
    heads = page.locator("#cmp-table thead th[data-col]")
    cols = [h.get_attribute("data-col") for h in heads.all()]
    assert cols[:6] == ["name", "status", "tags", "step", "best", "last"]
    assert set(cols[6:]) == {"hp:lr", "hp:batch_size", "hp:seed"}

    # Sorted by best value, lowest first, then the other way round.
    started = time.perf_counter()
    page.locator("th[data-col='best'] .cmp-sort").click()
    by_best = sorted(best, key=lambda r: best[r][0])
    dashboard.wait_for(lambda: row_ids(page) == by_best)
    print(f"200 runs: sorted in {time.perf_counter() - started:.2f} s")
    first = page.locator("#cmp-table tbody tr").first
    assert first.locator("td[data-col='best']").inner_text() == "0.01"
    assert first.locator("td[data-col='last']").inner_text() == "0.51"
    assert page.locator("th[data-col='best']").get_attribute("aria-sort") == "ascending"
    page.locator("th[data-col='best'] .cmp-sort").click()
    dashboard.wait_for(lambda: row_ids(page) == by_best[::-1])

    # Parallel coordinates: an axis per differing hparam and the metric, a line per run.
    lines = page.locator("#cmp-parallel path[data-run-id]")
    dashboard.wait_for(lambda: lines.count() == 200)
    axes = page.locator("#cmp-parallel [data-axis]")
    names = [a.get_attribute("data-axis") for a in axes.all()]
    assert len(names) == 4 and set(names[:3]) == {"lr", "batch_size", "seed"}
    drawn = {int(x) for x in page.eval_on_selector_all(
        "#cmp-parallel path[data-run-id]", "(ps) => ps.map((p) => p.dataset.runId)"
    )}  # fmt: skip
    assert drawn == set(best)

    # Filtered: by an hparam's value, by a comparison, by name; the chart follows the table.
    page.fill("#cmp-filter", "batch_size=64")
    dashboard.wait_for(lambda: rows.count() == 50)
    wanted = [r for r in by_best[::-1] if best[r][1]["batch_size"] == 64]
    assert row_ids(page) == wanted
    dashboard.wait_for(lambda: lines.count() == 50)
    page.fill("#cmp-filter", "batch_size=64 best<0.5")
    low = [r for r in wanted if best[r][0] < 0.5]
    dashboard.wait_for(lambda: row_ids(page) == low)
    assert 0 < len(low) < 50
    page.fill("#cmp-filter", "sweep-19")
    dashboard.wait_for(lambda: rows.count() == 10)  # sweep-190 ... sweep-199
    assert "Runs shown: 10 of 200" in page.locator("#cmp-count").inner_text()

    # Ticking a row draws the run, in its colour, and puts it in the address.
    page.fill("#cmp-filter", "")
    dashboard.wait_for(lambda: rows.count() == 200)
    target = by_best[-1]
    page.locator(f"#cmp-table tr[data-run-id='{target}'] input[type=checkbox]").check()
    dashboard.wait_for(lambda: page.evaluate("location.hash") == f"#/compare/{target}")
    dashboard.wait_for(lambda: len(dashboard.series("cmp", str(target))) == STEPS)
    assert page.locator(f"#cmp-parallel path.compared[data-run-id='{target}']").count() == 1


def test_twenty_runs_get_twenty_colours_then_dashes(dashboard):
    page, server = dashboard.page, dashboard.server
    ids = [
        seed(server, f"sweep-{i:02d}", {"lr": 0.01 * (i + 1)}, {"train_loss": valley(i / 10)})
        for i in range(21)
    ]
    reload(dashboard, f"#/compare/{','.join(map(str, ids))}")
    dashboard.wait_for(
        lambda: len(ds := page.evaluate(DATASETS)) == 21 and all(d["n"] == STEPS for d in ds)
    )
    by_id = {int(d["id"]): d for d in page.evaluate(DATASETS)}
    first20 = [by_id[i] for i in ids[:20]]
    assert len({d["color"] for d in first20}) == 20  # sweep-00 and sweep-10 apart
    assert all(d["dash"] == [] for d in first20)
    # The 21st run: a colour again, dashed.
    assert by_id[ids[20]]["color"] == by_id[ids[0]]["color"]
    assert by_id[ids[20]]["dash"] != []
    # The table's swatch and the legend say the same.
    swatch = page.locator(f"#cmp-table tr[data-run-id='{ids[20]}'] .run-swatch")
    assert "dashed" in swatch.get_attribute("class")
    legend = page.locator("#cmp-chart-block [data-legend] .legend-item .legend-swatch.dashed")
    assert legend.count() == 1


def test_a_key_mapped_to_another_name_draws_both_runs(dashboard):
    page, server = dashboard.page, dashboard.server
    builtin = seed(server, "built-in", {"lr": 0.1}, {"train_loss": valley(0.5)})
    script = seed(
        server, "script", {"lr": 0.01}, {"train/loss": valley(0.2), "val/loss": valley(0.3)}
    )
    reload(dashboard, f"#/compare/{builtin},{script}")
    dashboard.wait_for(lambda: len(dashboard.series("cmp", str(builtin))) == STEPS)
    page.wait_for_timeout(300)
    assert dashboard.series("cmp", str(script)) == []  # a legend entry and no line
    best = page.locator(f"#cmp-table tr[data-run-id='{script}'] td[data-col='best']")
    assert best.inner_text() == "–"

    # The key named like the metric is offered first; mapping it draws the script's curve.
    options = page.eval_on_selector_all("#cmp-alias option", "(os) => os.map((o) => o.value)")
    assert options[:2] == ["", "train/loss"]
    page.select_option("#cmp-alias", "train/loss")
    dashboard.wait_for(lambda: len(dashboard.series("cmp", str(script))) == STEPS)
    assert len(dashboard.series("cmp", str(builtin))) == STEPS
    assert min(y for _, y in dashboard.series("cmp", str(script))) == pytest.approx(0.2)
    legend = page.locator("#cmp-chart-block [data-legend] .legend-item")
    assert legend.all_inner_texts() == [
        f"built-in (#{builtin})",
        f"script (#{script}) · train/loss",
    ]
    dashboard.wait_for(lambda: best.inner_text() == "0.2")
    chip = page.locator("#cmp-aliases [data-alias='train/loss']")
    assert chip.inner_text().strip() == "train/loss → train_loss"

    # Kept across a reload; removing it takes the line away again.
    reload(dashboard, f"#/compare/{builtin},{script}")
    dashboard.wait_for(lambda: len(dashboard.series("cmp", str(script))) == STEPS)
    page.locator("#cmp-aliases [data-alias='train/loss']").click()
    dashboard.wait_for(lambda: len(dashboard.series("cmp", str(builtin))) == STEPS)
    page.wait_for_timeout(300)
    assert dashboard.series("cmp", str(script)) == []


class LiveLr(ScriptRun):
    def __init__(self, db_path) -> None:
        super().__init__(db_path, "lr twice", {"lr": 0.01, "batch_size": 32}, live=["lr"])


def test_an_lr_changed_twice_shows_its_path(dashboard):
    api, page = dashboard.api, dashboard.page
    script = LiveLr(dashboard.server.db_path)
    try:
        run_id = script.run.id
        api.wait_step(run_id, 3)
        for lr in (0.02, 0.04):
            response = api.patch(f"/api/runs/{run_id}/hparams", json={"lr": lr})
            assert response.status_code == 200, response.get_json()
            dashboard.wait_for(lambda v=lr: api.run(run_id)["hparams"]["lr"] == v)
        dashboard.wait_for(lambda: len(api.events(run_id, "hparams")) == 2)
        steps = [e["step"] for e in api.events(run_id, "hparams")]

        page.evaluate(f"location.hash = '#/compare/{run_id}'")
        cell = page.locator(f"#cmp-table tr[data-run-id='{run_id}'] td[data-col='hp:lr']")
        dashboard.wait_for(lambda: cell.inner_text() == "0.01 → 0.02 → 0.04")
        title = cell.get_attribute("title")
        assert title == (
            f"0.01 at the start · 0.02 from step {steps[0]:,} · 0.04 from step {steps[1]:,}"
        )
        # An hparam that never changed shows its one value.
        batch = page.locator(f"#cmp-table tr[data-run-id='{run_id}'] td[data-col='hp:batch_size']")
        assert batch.inner_text() == "32"

        answer = api.get("/api/runs/changes").get_json()["changes"][str(run_id)]["lr"]
        assert [p["value"] for p in answer] == [0.01, 0.02, 0.04]
    finally:
        script.finish()
