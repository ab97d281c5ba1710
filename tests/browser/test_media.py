"""Images and tables a wandb-style script logs, on the run's page: the image of each step behind
a slider, a table of a chosen step (real browser, real server, the PNGs the script wrote)."""

from __future__ import annotations

import numpy as np
from test_tracker import finished_run


def test_images_scrub_by_step_and_tables_show_their_rows(dashboard, tmp_path):
    from lernkurve.store.media import run_media_dir
    from lernkurve.tracking.wandbsurface.media import Image, Table
    from lernkurve.tracking.wandbsurface.record import Recorder

    page, db_path = dashboard.page, dashboard.server.db_path

    def during(run, step):
        if step % 10:
            return
        recorder = Recorder(run, lambda: run_media_dir(run.db, run.id))
        shade = np.full((6, 8, 3), step * 10, dtype=np.uint8)  # darker to lighter by step
        recorder.record("samples", Image(shade, caption=f"at {step}"), step)
        rows = [[i, step + i] for i in range(step // 10 + 1)]
        recorder.record("preds", Table(columns=["id", "value"], data=rows), step)

    run_id = finished_run(db_path, "images", {"lr": 0.1}, steps=21, during=during)
    dashboard.open_run(run_id)
    image = page.locator("#media-image")
    dashboard.wait_for(lambda: image.get_attribute("data-step") == "20")
    dashboard.wait_for(lambda: image.evaluate("(img) => img.complete && img.naturalWidth") == 8)
    assert page.locator("#media-caption").inner_text() == "at 20"
    assert pixel(page) == [200, 200, 200]

    page.locator("#media-image-step").fill("0")  # the slider's first image
    dashboard.wait_for(lambda: image.get_attribute("data-step") == "0")
    dashboard.wait_for(lambda: image.evaluate("(img) => img.complete && img.naturalWidth") == 8)
    assert page.locator("#media-image-at").inner_text() == "step 0"
    assert pixel(page) == [0, 0, 0]

    table = page.locator("#media-table")
    assert table.locator("th").all_inner_texts() == ["id", "value"]
    assert table.get_attribute("data-step") == "20"  # the newest table first
    assert table.locator("tbody tr").count() == 3
    page.select_option("#media-table-step", label="step 0")
    dashboard.wait_for(lambda: table.locator("tbody tr").count() == 1)
    assert page.locator("#media-table-rows").inner_text() == "1 row"
    page.locator("#media-card").screenshot(path=str(tmp_path / "media.png"))


def pixel(page) -> list[int]:
    """The shown image's top-left pixel, read back from a canvas."""
    return page.evaluate(
        """() => {
            const img = document.getElementById('media-image');
            const canvas = document.createElement('canvas');
            canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
            const ctx = canvas.getContext('2d');
            ctx.drawImage(img, 0, 0);
            return [...ctx.getImageData(0, 0, 1, 1).data.slice(0, 3)];
        }"""
    )


def test_a_metric_a_script_defined_as_max_is_best_when_highest(dashboard):
    """wandb.define_metric("reward", summary="max"): the runs list takes it as best-is-highest,
    where the name alone would say lowest."""
    from lernkurve.tracking.wandbsurface.entry import init

    page, db_path = dashboard.page, dashboard.server.db_path
    run = init(project="rl", config={"lr": 0.1}, db=db_path, system_metrics=False)
    run.define_metric("reward", summary="max")
    for step in range(20):
        run.log({"reward": abs(step - 12)})  # 12 at step 0, 0 at step 12, 7 at step 19
    run.finish()
    page.reload()
    page.wait_for_selector("html[data-ready][data-connection='online']")
    page.fill("#runs-metric", "reward")
    page.press("#runs-metric", "Enter")
    summary = page.locator(f"#runs-list [data-run-id='{run.id}'] .run-summary")
    dashboard.wait_for(lambda: summary.get_attribute("data-best") == "12")
    assert page.locator("#runs-mode").input_value() == "max"


def test_a_scripts_alert_shows_as_a_toast_on_any_page(dashboard):
    """wandb.alert() while the person looks at another page: a toast says which run and what."""
    from lernkurve.tracking.wandbsurface.entry import init

    page, db_path = dashboard.page, dashboard.server.db_path
    run = init(project="rl", config={"lr": 0.1}, db=db_path, system_metrics=False)
    run.log({"loss": 1.0})
    run.alert("diverged", "loss is nan at step 1", level="ERROR")
    run.finish()
    toast = page.locator("#alert-toasts .alert-toast")
    toast.wait_for()
    assert toast.locator(".toast-header strong").inner_text() == "diverged"
    assert toast.locator(".toast-body").inner_text() == "loss is nan at step 1"
    assert "text-bg-danger" in toast.locator(".toast-header").get_attribute("class")
    toast.locator(".toast-header a").click()  # the run's name leads to the run
    page.wait_for_function(f"location.hash === '#/run/{run.id}'")
