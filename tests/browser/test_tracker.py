"""What a run tracker shows (issue 13), in real Chromium: a run's context, tags and notes, text
samples and their diff, weight distributions, best and last values, and compare's table."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

pytestmark = pytest.mark.browser

CONTEXT = {
    "argv": ["train.py", "--lr", "0.1", "--name", "two words"],
    "cwd": "/home/ada/gpt",
    "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": True, "branch": "main"},
    "python": "3.11.9",
    "torch": "2.13.0",
    "cuda": None,
    "host": "lovelace",
    "devices": ["cpu"],
}


def finished_run(db_path, name, config, steps=30, values=None, during=None):
    """A script run logged to the end in this thread: values(step) each step, during(run, step)."""
    from lernkurve.tracking import client

    run = client.init(name=name, config=config, live=[], db=db_path, system_metrics=False)
    with run:
        for step in run.steps(steps):
            run.log(values(step) if values else {"loss": 1 / (step + 1)}, step=step)
            if during:
                during(run, step)
    return run.id


def set_context(db_path, run_id, context):
    with sqlite3.connect(db_path, timeout=10) as db:
        (config,) = db.execute("SELECT config FROM runs WHERE id = ?", (run_id,)).fetchone()
        config = json.loads(config or "{}")
        config.pop("context", None)
        if context is not None:
            config["context"] = context
        db.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(config), run_id))


def shot(page, tmp_path, name):
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def test_about_shows_the_run_context(dashboard, tmp_path):
    page, db_path = dashboard.page, dashboard.server.db_path
    with_context = finished_run(db_path, "gpt-1", {"lr": 0.1})
    set_context(db_path, with_context, CONTEXT)
    old = finished_run(db_path, "old run", {"lr": 0.1})
    set_context(db_path, old, None)  # as a run from before contexts were recorded

    dashboard.open_run(with_context)
    about = page.locator("#about-list")
    about.wait_for()
    assert about.locator("[data-about='command']").inner_text() == (
        "train.py --lr 0.1 --name 'two words'"
    )
    assert about.locator("[data-about='cwd']").inner_text() == "/home/ada/gpt"
    git = about.locator("[data-about='git']")
    assert git.inner_text().startswith("0123456789ab (main)")
    assert git.locator("code").get_attribute("title") == CONTEXT["git"]["commit"]
    assert git.locator("[data-dirty]").get_attribute("data-dirty") == "true"
    assert about.locator("[data-about='versions']").inner_text() == (
        "Python 3.11.9 · torch 2.13.0 · CUDA none"
    )
    assert about.locator("[data-about='host']").inner_text() == "lovelace"
    assert about.locator("[data-about='devices']").inner_text() == "cpu"
    assert page.locator("#about-empty").is_hidden()
    shot(page, tmp_path, "about")

    # A run from before context was recorded says so instead.
    dashboard.open_run(old)
    page.locator("#about-empty").wait_for()
    assert page.locator("#about-list dd").count() == 0


def test_tags_filter_the_sidebar_and_a_note_round_trips(dashboard, tmp_path):
    page, api, db_path = dashboard.page, dashboard.api, dashboard.server.db_path
    tagged = finished_run(db_path, "tagged run", {"lr": 0.1})
    other = finished_run(db_path, "other run", {"lr": 0.2})
    dashboard.open_run(tagged)

    for tag in ("baseline", "gpt"):
        page.fill("#tag-input", tag)
        page.press("#tag-input", "Enter")
        page.locator(f"#tags-list [data-tag='{tag}']").wait_for()
    dashboard.wait_for(lambda: api.run(tagged)["tags"] == ["baseline", "gpt"])

    # The sidebar offers each tag as a filter; pressing one shows only the runs carrying it.
    items = page.locator("#runs-list .run-item:visible")
    dashboard.wait_for(lambda: items.count() == 2)
    page.locator("#runs-tags [data-tag='baseline']").click()
    dashboard.wait_for(lambda: items.count() == 1)
    assert items.first.get_attribute("data-run-id") == str(tagged)
    assert page.locator("#runs-tags [data-tag='baseline']").get_attribute("aria-pressed") == "true"
    page.locator("#runs-tags [data-tag='baseline']").click()
    dashboard.wait_for(lambda: items.count() == 2)

    # Removing a tag stores it and the filter disappears with the last run carrying it.
    page.get_by_role("button", name="Remove tag gpt").click()
    dashboard.wait_for(lambda: api.run(tagged)["tags"] == ["baseline"])
    page.locator("#runs-tags [data-tag='gpt']").wait_for(state="detached")

    # A Markdown note: stored as typed, shown rendered, never as raw HTML.
    note = "# Result\nlr **0.1** beats `0.2`.\n- one\n- two\n<img src=x onerror=alert(1)>"
    page.get_by_role("button", name="Edit note").click()
    page.fill("#note-input", note)
    page.get_by_role("button", name="Save", exact=True).click()
    dashboard.wait_for(lambda: api.run(tagged)["notes"] == note)
    view = page.locator("#note-view")
    view.locator("strong", has_text="0.1").wait_for()
    assert view.locator("h4").inner_text() == "Result"
    assert view.locator("code").inner_text() == "0.2"
    assert view.locator("li").all_inner_texts() == ["one", "two"]
    assert view.locator("img").count() == 0
    assert "<img src=x onerror=alert(1)>" in view.inner_text()
    shot(page, tmp_path, "notes")

    # After a reload the note and tags come back from the database.
    page.reload()
    page.wait_for_selector("html[data-ready][data-connection='online']")
    dashboard.open_run(tagged)
    page.locator("#note-view strong", has_text="0.1").wait_for()
    assert page.locator("#tags-list [data-tag]").all_inner_texts() == ["baseline"]
    assert api.run(other)["tags"] == []


def test_compare_shows_only_differing_hparams_and_sorts_runs(dashboard, tmp_path):
    page, db_path = dashboard.page, dashboard.server.db_path
    config = {"lr": 0.1, "batch_size": 32, "seed": 1, "optimizer": "adam"}
    low = finished_run(
        db_path, "low", {**config, "lr": 0.01}, values=lambda s: {"train_loss": 2 - s / 20}
    )
    high = finished_run(db_path, "high", config, values=lambda s: {"train_loss": 1 - s / 40})
    page.evaluate(f"location.hash = '#/compare/{low},{high}'")
    table = page.locator("#cmp-table")
    # A row per run (newest first), a column per hparam that differs.
    cols = table.locator("thead th[data-col^='hp:']")
    dashboard.wait_for(lambda: cols.count() == 1)
    assert cols.first.get_attribute("data-col") == "hp:lr"
    assert table.locator("tbody td[data-col='hp:lr']").all_inner_texts() == ["0.1", "0.01"]
    assert "differs" in cols.first.get_attribute("class")

    page.get_by_text("Show all hyperparameters").click()
    dashboard.wait_for(lambda: cols.count() == 4)
    assert [c.get_attribute("data-col") for c in cols.all()] == [
        "hp:lr",
        "hp:batch_size",
        "hp:seed",
        "hp:optimizer",
    ]
    page.get_by_text("Show all hyperparameters").click()
    dashboard.wait_for(lambda: cols.count() == 1)

    # Best and last of the chosen metric, per run.
    best = table.locator("tbody td[data-col='best']")
    dashboard.wait_for(lambda: best.all_inner_texts() == ["0.275", "0.55"])
    assert table.locator("tbody td[data-col='last']").all_inner_texts() == ["0.275", "0.55"]

    # A column's header sorts the rows by it, then the other way round.
    rows = table.locator("tbody tr[data-run-id]")
    order = lambda: [int(r.get_attribute("data-run-id")) for r in rows.all()]  # noqa: E731
    assert order() == [high, low]
    page.locator("th[data-col='best'] .cmp-sort").click()
    dashboard.wait_for(lambda: table.locator("th[data-col='best']").get_attribute("aria-sort"))
    assert table.locator("th[data-col='best']").get_attribute("aria-sort") == "ascending"
    assert order() == [high, low]
    page.locator("th[data-col='best'] .cmp-sort").click()
    dashboard.wait_for(lambda: order() == [low, high])
    assert table.locator("th[data-col='best']").get_attribute("aria-sort") == "descending"
    shot(page, tmp_path, "compare")
    page.locator("#view-compare .card").last.screenshot(path=str(tmp_path / "compare-table.png"))


def test_a_sort_click_held_while_a_live_run_redraws_the_table_still_sorts(dashboard):
    """A live run redraws compare's table twice a second; a press that spans a redraw must
    still reach its button (new elements under the pointer would swallow the click)."""
    from lernkurve.tracking import client

    page, db_path = dashboard.page, dashboard.server.db_path
    done = finished_run(db_path, "done", {"lr": 0.1}, values=lambda s: {"train_loss": 1 - s / 40})
    run = client.init(name="live", config={"lr": 0.01}, live=[], db=db_path)
    with run:
        for step in range(5):
            run.log({"train_loss": 2 - step / 20}, step=step)
        page.evaluate(f"location.hash = '#/compare/{run.id},{done}'")
        table = page.locator("#cmp-table")
        best = table.locator("tbody td[data-col='best']")
        dashboard.wait_for(lambda: best.all_inner_texts() == ["1.8", "0.275"])
        last = table.locator("tbody td[data-col='last']").first
        assert last.inner_text() == "1.8"

        page.locator("th[data-col='best'] .cmp-sort").scroll_into_view_if_needed()
        box = page.locator("th[data-col='best'] .cmp-sort").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        run.log({"train_loss": 1.9}, step=40)
        dashboard.wait_for(lambda: last.inner_text() == "1.9")  # redrawn while pressed
        page.mouse.up()
        rows = table.locator("tbody tr[data-run-id]")
        order = lambda: [int(r.get_attribute("data-run-id")) for r in rows.all()]  # noqa: E731
        dashboard.wait_for(lambda: order() == [done, run.id])


@pytest.mark.parametrize("target", ["notes tag", "sidebar tag", "trials toggle"])
def test_a_press_held_while_its_live_run_updates_still_clicks(dashboard, target):
    """A live run's row and panels update with every step; pressing a tag's remove button, a
    tag on its sidebar row (which opens the run) or its trials' toggle across an update must
    still click."""
    from lernkurve.store.database import Database
    from lernkurve.tracking import client

    page, api, db_path = dashboard.page, dashboard.api, dashboard.server.db_path
    other = finished_run(db_path, "other", {"lr": 0.1})
    run = client.init(name="live", config={"lr": 0.1}, live=[], db=db_path)
    with run:
        steps = run.steps(1000)
        next(steps)
        tags = {"tags": ["gpt", "baseline"]}
        assert api.patch(f"/api/runs/{run.id}", json=tags).status_code == 200
        db = Database(str(db_path))
        trial = {"kind": "lr_test"}
        ended = {"status": "completed", "ended_at": time.time()}  # the streamer tells the page
        db.insert_run(name="t", task="script", parent_id=run.id, config=trial, **ended)
        db.dispose()
        dashboard.open_run(run.id if target == "notes tag" else other)
        row = page.locator(f"#runs-list > li[data-run-id='{run.id}']")
        pressed = {
            "notes tag": page.get_by_role("button", name="Remove tag gpt"),
            "sidebar tag": row.locator(".run-tags .tag-chip", has_text="gpt"),
            "trials toggle": row.locator(".trials-toggle"),
        }[target]
        pressed.wait_for()
        meta = row.locator(".run-meta")
        dashboard.wait_for(lambda: "step 0 /" in meta.inner_text())

        box = pressed.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        next(steps)
        dashboard.wait_for(lambda: "step 1 /" in meta.inner_text())  # updated while pressed
        page.mouse.up()
        if target == "notes tag":
            dashboard.wait_for(lambda: api.run(run.id)["tags"] == ["baseline"])
        elif target == "sidebar tag":
            dashboard.wait_for(lambda: page.evaluate("location.hash") == f"#/run/{run.id}")
        else:
            dashboard.wait_for(lambda: row.locator(".trial-list").is_visible())
            assert row.locator(".trials-toggle").get_attribute("aria-expanded") == "true"


def test_text_samples_newest_first_and_a_diff_between_steps(dashboard, tmp_path):
    page, db_path = dashboard.page, dashboard.server.db_path
    texts = {
        10: "the cat sat on the mat",
        20: "the cat sat on a mat\nand slept",
        30: "the dog sat on a mat\nand slept <b>well</b>",
    }

    def during(run, step):
        if step in texts:
            run.log_text("sample", texts[step], step=step)

    run_id = finished_run(db_path, "lm", {"lr": 0.1}, steps=31, during=during)
    dashboard.open_run(run_id)
    items = page.locator("#samples-list .sample-item")
    dashboard.wait_for(lambda: items.count() == 3)
    assert [i.get_attribute("data-step") for i in items.all()] == ["30", "20", "10"]
    assert items.first.locator("pre").inner_text() == texts[30]  # as text, not markup

    # By default the two newest: 20 -> 30, word by word.
    page.get_by_role("button", name="Diff", exact=True).click()
    view = page.locator("#samples-diff-view")
    view.wait_for()
    assert view.locator("del").all_inner_texts() == ["cat"]
    assert view.locator("ins").all_inner_texts() == ["dog", " <b>well</b>"]
    assert view.inner_text() == "the catdog sat on a mat\nand slept <b>well</b>"

    # Any two steps, by lines.
    page.select_option("#samples-from", label="step 10")
    page.get_by_text("Lines", exact=True).click()
    dashboard.wait_for(lambda: view.locator("del").all_inner_texts() == ["the cat sat on the mat"])
    assert view.locator("ins").all_inner_texts() == ["the dog sat on a mat\nand slept <b>well</b>"]
    shot(page, tmp_path, "samples")
    page.locator("#samples-card .card-header").screenshot(path=str(tmp_path / "samples-head.png"))


def test_distribution_chart_draws_percentile_bands_from_snapshots(dashboard, tmp_path):
    page, db_path = dashboard.page, dashboard.server.db_path
    q = [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1]

    def values(step, scale):
        spread = scale * (1 + step / 10)
        return [round(spread * x, 6) for x in (-3, -2, -1, 0.1, 1, 2, 3)]

    def during(run, step):
        if step % 5 == 0:
            for name, kind, scale in (
                ("fc1.weight", "weight", 1.0),
                ("fc1.weight.grad", "grad", 0.01),
            ):
                payload = {"name": name, "kind": kind, "q": q, "values": values(step, scale)}
                run.snapshot("distribution", payload, step=step)

    run_id = finished_run(db_path, "dists", {"lr": 0.1}, steps=40, during=during)
    dashboard.open_run(run_id)
    page.locator("#dist-card").wait_for()
    read = """() => {
        const c = Chart.getChart(document.querySelector('#dist-chart-block canvas'));
        return c ? c.data.datasets.map((d) => [d.lkQ, d.fill, d.data.map((p) => [p.x, p.y])]) : [];
    }"""
    sets = dashboard.wait_for(lambda: page.evaluate(read))
    assert [s[0] for s in sets] == [0, 1, 0.05, 0.95, 0.25, 0.75, 0.5]
    assert [s[1] for s in sets] == [False, "-1", False, "-1", False, "-1", False]
    steps = list(range(0, 40, 5))
    by_q = {s[0]: s[2] for s in sets}
    for i, quantile in enumerate(q):
        assert by_q[quantile] == [[step, values(step, 1.0)[i]] for step in steps]
    assert page.locator("#dist-name").input_value() == "fc1.weight"

    page.select_option("#dist-name", "fc1.weight.grad")
    dashboard.wait_for(
        lambda: (
            {s[0]: s[2] for s in page.evaluate(read)}[1]
            == [[step, values(step, 0.01)[6]] for step in steps]
        )
    )
    page.locator("#dist-card").scroll_into_view_if_needed()
    shot(page, tmp_path, "distribution")


def test_sidebar_shows_best_and_last_of_a_chosen_metric(dashboard, tmp_path):
    page, db_path = dashboard.page, dashboard.server.db_path
    down = finished_run(db_path, "down", {}, values=lambda s: {"loss": 10 - s, "acc": s / 100})
    vee = finished_run(db_path, "vee", {}, values=lambda s: {"loss": abs(s - 10) + 1})
    silent = finished_run(db_path, "silent", {}, values=lambda s: {"other": 1.0})
    page.reload()
    page.wait_for_selector("html[data-ready][data-connection='online']")

    page.fill("#runs-metric", "loss")
    page.press("#runs-metric", "Enter")
    summary = lambda rid: page.locator(f"#runs-list [data-run-id='{rid}'] .run-summary")  # noqa: E731
    dashboard.wait_for(lambda: summary(down).get_attribute("data-best") == "-19")
    assert summary(down).get_attribute("data-last") == "-19"
    assert summary(vee).get_attribute("data-best") == "1"
    assert summary(vee).get_attribute("data-last") == "20"
    assert summary(vee).inner_text() == "best 1 @ 10 · last 20"
    assert summary(silent).inner_text() == "loss: not logged"
    assert page.locator("#runs-mode").input_value() == "min"

    # Accuracy-like keys are best when highest.
    page.fill("#runs-metric", "acc")
    page.press("#runs-metric", "Enter")
    dashboard.wait_for(lambda: summary(down).get_attribute("data-best") == "0.29")
    assert page.locator("#runs-mode").input_value() == "max"
    shot(page, tmp_path, "sidebar")


def test_chart_details_log_ticks_tooltip_and_keyboard_reset(dashboard, tmp_path):
    page, db_path = dashboard.page, dashboard.server.db_path

    def values(step):
        out = {"train_loss": 1 / (step + 1), "lr": 10 ** (-step / 10)}  # 1 down to 1e-6
        if step % 10 == 0:
            out["val_loss"] = 1.2 / (step + 1)
        return out

    run_id = finished_run(db_path, "details", {"lr": 1.0}, steps=61, values=values)
    dashboard.open_run(run_id)

    # The lr panel is logarithmic: its labels keep apart (the rest keep their grid line).
    labels = """() => {
        const y = Chart.getChart(document.querySelector('#chart-block-lr canvas')).scales.y;
        return y.ticks.filter((t) => t.label !== '')
            .map((t) => [t.label, y.getPixelForValue(t.value)]);
    }"""
    shown = dashboard.wait_for(lambda: page.evaluate(labels))
    assert (
        page.evaluate(
            "Chart.getChart(document.querySelector('#chart-block-lr canvas')).scales.y.type"
        )
        == "logarithmic"
    )
    assert len(shown) >= 3
    pixels = sorted(p for _, p in shown)
    assert min(b - a for a, b in zip(pixels, pixels[1:], strict=False)) >= 16
    assert {"1e-6", "1e-5", "0.01", "1"} <= {label for label, _ in shown}

    # The tooltip names every series at the hovered step, also one logged every 10 steps only.
    canvas = page.locator("#chart-block-loss canvas")
    x = page.evaluate("""() => {
        const c = Chart.getChart(document.querySelector('#chart-block-loss canvas'));
        return c.scales.x.getPixelForValue(21);
    }""")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + x, box["y"] + 40)
    tooltip = """() => {
        const c = Chart.getChart(document.querySelector('#chart-block-loss canvas'));
        return c.tooltip.opacity ? c.tooltip.dataPoints.map((d) => [d.dataset.lkId, d.raw.s]) : [];
    }"""
    items = dashboard.wait_for(lambda: page.evaluate(tooltip))
    assert ["train_loss", 21] in items and ["val_loss", 20] in items
    canvas.screenshot(path=str(tmp_path / "tooltip.png"))
    page.locator("#chart-block-lr").screenshot(path=str(tmp_path / "log-axis.png"))

    # A focused chart resets the zoom of all charts on 0 and on Escape (as the page says).
    page.locator("#shortcuts-btn").click()  # the page's list of mouse and keys says so
    assert page.get_by_text("0 or Esc on a focused chart resets too").is_visible()
    page.keyboard.press("Escape")
    assert canvas.get_attribute("aria-keyshortcuts") == "0 Escape"
    zoomed = """() => ['loss', 'lr'].map((n) =>
        Chart.getChart(document.querySelector(`#chart-block-${n} canvas`)).isZoomedOrPanned())"""
    zoom = (
        "() => Chart.getChart(document.querySelector('#chart-block-loss canvas'))"
        ".zoomScale('x', {min: 10, max: 30}, 'none')"
    )
    for key in ("0", "Escape"):
        page.evaluate(zoom)
        # As after a drag: the zoomed chart tells the others.
        page.evaluate("""() => {
            const c = Chart.getChart(document.querySelector('#chart-block-loss canvas'));
            c.options.plugins.zoom.zoom.onZoomComplete({chart: c});
        }""")
        dashboard.wait_for(lambda: page.evaluate(zoomed) == [True, True])
        canvas.focus()
        page.keyboard.press(key)
        dashboard.wait_for(lambda: page.evaluate(zoomed) == [False, False])


def test_a_watched_torch_run_fills_grad_sys_and_distribution_views(dashboard, tmp_path):
    """The real thing end to end: watch(log_grads, log_histograms) and system metrics."""
    import time

    import torch

    from lernkurve.tracking import client

    page, db_path = dashboard.page, dashboard.server.db_path
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    run = client.init(
        name="watched", config={"lr": 0.1}, live=["lr"], db=db_path, system_metrics=0.2
    )
    run.watch(model, optimizer, log_grads=5, log_histograms=10)
    x, y = torch.randn(64, 8), torch.randint(0, 2, (64,))
    with run:
        for step in run.steps(60):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            run.log({"train_loss": loss.item()}, step=step)
            if step % 20 == 0:
                run.log_text("sample", f"step {step}: loss {loss.item():.3f}", step=step)
            time.sleep(0.01)

    dashboard.open_run(run.id)
    panels = (
        "() => [...document.querySelectorAll('#chart-stack [data-chart]')]"
        ".map((b) => b.dataset.chart)"
    )
    names = dashboard.wait_for(
        lambda: {"grad", "sys", "update"} <= set(page.evaluate(panels)) and page.evaluate(panels)
    )
    assert names[0] == "loss"
    legend = page.locator("#chart-block-grad [data-legend] .legend-item")
    assert "grad/total_norm" in legend.all_inner_texts()
    # Megabytes get a panel apart from the percentages; update ratios start on a log axis.
    dashboard.wait_for(lambda: dashboard.series("sys-MB", "sys/rss_mb"))
    assert dashboard.series("sys", "sys/cpu_percent") and not dashboard.series("sys", "sys/rss_mb")
    y_type = "(c) => Chart.getChart(c).options.scales.y.type"
    assert page.locator("#chart-block-update canvas").evaluate(y_type) == "logarithmic"
    # A narrow range (368.2 to 369.0 MB) still labels each tick differently.
    labels = "(c) => Chart.getChart(c).scales.y.ticks.map((t) => t.label)"
    ticks = page.locator("#chart-block-sys-MB canvas").evaluate(labels)
    assert len(ticks) > 2 and len(set(ticks)) == len(ticks)
    page.locator("#dist-card").wait_for()
    assert page.locator("#dist-name").input_value() == "0.weight"
    options = page.locator("#dist-name option").all_inner_texts()
    assert "0.weight" in options and "0.weight.grad" in options
    page.locator("#samples-list .sample-item").first.wait_for()
    for block in ("#chart-block-sys", "#chart-block-sys-MB", "#chart-block-update", "#dist-card"):
        page.locator(block).screenshot(path=str(tmp_path / f"watched-{block[1:]}.png"))


def test_the_new_panels_in_german_and_dark(dashboard, tmp_path):
    page, db_path = dashboard.page, dashboard.server.db_path

    def during(run, step):
        if step in (10, 20):
            run.log_text("sample", f"Schritt {step}: der Hund schläft", step=step)
        if step % 10 == 0:
            values = [-1 - step / 10, -0.5, -0.2, 0, 0.2, 0.5, 1 + step / 10]
            payload = {
                "name": "fc.weight",
                "kind": "weight",
                "q": [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1],
            }
            run.snapshot("distribution", {**payload, "values": values}, step=step)

    run_id = finished_run(db_path, "deutsch", {"lr": 0.1}, during=during)
    set_context(db_path, run_id, CONTEXT)
    answer = dashboard.api.patch(
        f"/api/runs/{run_id}", json={"tags": ["basis"], "notes": "**fett**"}
    )
    assert answer.status_code == 200
    page.evaluate("document.querySelector('#lang-menu [data-lang=de]').click()")
    page.evaluate("document.querySelector('#theme-menu [data-theme=dark]').click()")
    dashboard.open_run(run_id)
    page.locator("#samples-list .sample-item").first.wait_for()
    page.locator("#dist-card").wait_for()
    assert page.locator("#about-heading").inner_text() == "Über diesen Lauf"
    assert page.locator("#notes-heading").inner_text() == "Tags und Notizen"
    assert page.locator("#samples-heading").inner_text() == "Textbeispiele"
    assert page.locator("#dist-heading").inner_text() == "Verteilungen"
    assert page.locator("#about-list [data-about='versions']").inner_text().endswith("CUDA keine")
    assert page.locator("#about-list [data-dirty]").inner_text() == "nicht eingecheckte Änderungen"
    page.get_by_role("button", name="Unterschied", exact=True).click()
    page.locator("#samples-diff-view ins").first.wait_for()
    page.set_viewport_size({"width": 1400, "height": 1500})
    page.locator("#view-run").screenshot(path=str(tmp_path / "german-dark.png"))


def test_samples_and_distributions_arrive_live(dashboard):
    from script_runs import ScriptRun

    page = dashboard.page
    script = ScriptRun(dashboard.server.db_path, "live lm", {"lr": 0.1}, live=["lr"])
    try:
        dashboard.api.wait_step(script.run.id, 5)
        dashboard.open_run(script.run.id)
        assert page.locator("#samples-card").is_hidden()
        assert page.locator("#dist-card").is_hidden()
        q = [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1]
        for step, text in ((7, "first words"), (9, "second words")):
            script.write("snapshots", "text", {"key": "sample", "text": text}, step=step)
            payload = {"name": "w", "kind": "weight", "q": q, "values": [-2, -1, 0, step, 1, 2, 3]}
            script.write("snapshots", "distribution", payload, step=step)
        items = page.locator("#samples-list .sample-item pre")
        dashboard.wait_for(lambda: items.all_inner_texts() == ["second words", "first words"])
        median = """() => {
            const c = Chart.getChart(document.querySelector('#dist-chart-block canvas'));
            return c ? c.data.datasets.find((d) => d.lkQ === 0.5).data.map((p) => [p.x, p.y]) : [];
        }"""
        dashboard.wait_for(lambda: page.evaluate(median) == [[7, 7], [9, 9]])
    finally:
        script.finish()


def test_many_layers_start_with_only_the_first_few_shown(dashboard, tmp_path):
    page, db_path = dashboard.page, dashboard.server.db_path

    def values(step):
        out = {"grad/total_norm": 1.0 + step}
        out.update({f"grad/norm/layer{i:02d}.weight": i + step / 10 for i in range(12)})
        return out

    run_id = finished_run(db_path, "deep", {"lr": 0.1}, steps=10, values=values)
    dashboard.open_run(run_id)
    chips = page.locator("#chart-block-grad [data-legend] .legend-item")
    dashboard.wait_for(lambda: chips.count() == 13)
    shown = [
        c.get_attribute("data-series")
        for c in chips.all()
        if c.get_attribute("aria-pressed") == "true"
    ]
    assert len(shown) == 9 and "grad/total_norm" in shown  # the total and 8 layers
    hidden = page.locator("#chart-block-grad [data-series='grad/norm/layer11.weight']")
    assert hidden.get_attribute("aria-pressed") == "false"
    hidden.click()
    assert hidden.get_attribute("aria-pressed") == "true"
    page.locator("#chart-block-grad").screenshot(path=str(tmp_path / "many-layers.png"))
