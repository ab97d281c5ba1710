"""Chart panels by metric key (one quantity per panel, across prefixes), built only for keys a
run has."""

from __future__ import annotations

import pytest
from script_runs import ScriptRun

pytestmark = pytest.mark.browser

PANELS = (
    "() => [...document.querySelectorAll('#chart-stack [data-chart]')].map((b) => b.dataset.chart)"
)


class SectionScript(ScriptRun):
    """A script run logging `train/loss` every step and `val/loss`, `val/acc` every 10 steps.

    `add(key)` makes it log one more key from then on, as a script that starts logging
    something new half-way does.
    """

    def __init__(self, db_path) -> None:
        self.extra: list[str] = []
        super().__init__(db_path, "sections", {"lr": 0.1}, live=["lr"])

    def values(self, step: int) -> dict:
        values = {"train/loss": 1 / (step + 1)}
        if step % 10 == 0:
            values.update({"val/loss": 1.5 / (step + 1), "val/acc": step / (step + 9)})
        values.update({key: 0.5 + step % 7 for key in list(self.extra)})
        return values

    def add(self, key: str) -> None:
        self.extra.append(key)


@pytest.fixture
def section_script(dashboard):
    script = SectionScript(dashboard.server.db_path)
    yield script
    script.finish()


def test_panels_follow_the_keys_sections_and_keys_arriving_live(dashboard, section_script):
    api, page = dashboard.api, dashboard.page
    run_id = section_script.run.id
    api.wait_step(run_id, 15)
    dashboard.open_run(run_id)

    # `train/loss` and `val/loss` -> "loss", `val/acc` -> "accuracy"; no empty panel.
    assert page.evaluate(PANELS) == ["loss", "accuracy"]
    assert page.locator("#chart-block-loss [data-title]").inner_text() == "Loss"
    assert dashboard.series("loss", "train/loss")
    dashboard.wait_for(
        lambda: dashboard.series("accuracy", "val/acc") and dashboard.series("loss", "val/loss")
    )
    assert page.locator("#chart-block-train, #chart-block-val").count() == 0

    # A key that first arrives live gets its own panel; `lr/group1` joins the lr panel.
    section_script.add("grad/norm")
    section_script.add("lr/group1")
    dashboard.wait_for(lambda: page.evaluate(PANELS) == ["loss", "accuracy", "lr", "grad"])
    dashboard.wait_for(lambda: len(dashboard.series("grad", "grad/norm")) > 3)
    dashboard.wait_for(lambda: dashboard.series("lr", "lr/group1"))

    # `speed_fwd` alone is "other"; once `speed_bwd` shares its prefix, both move to "speed".
    section_script.add("speed_fwd")
    dashboard.wait_for(lambda: "other" in page.evaluate(PANELS))
    dashboard.wait_for(lambda: dashboard.series("other", "speed_fwd"))
    section_script.add("speed_bwd")
    dashboard.wait_for(lambda: page.evaluate(PANELS) == ["loss", "accuracy", "speed", "lr", "grad"])
    dashboard.wait_for(lambda: len(dashboard.series("speed", "speed_fwd")) > 5)
    assert dashboard.series("speed", "speed_bwd")

    # Every panel draws the run's event markers, also a panel made after the event.
    api.control(run_id, "pause")
    api.wait_status(run_id, "paused")
    for panel in ("grad", "speed", "loss", "accuracy", "lr"):
        dashboard.wait_for(lambda p=panel: ["Paused"] in [m["label"] for m in dashboard.markers(p)])
    section_script.add("noise/a")
    api.control(run_id, "resume")
    dashboard.wait_for(lambda: "noise" in page.evaluate(PANELS))
    assert ["Paused"] in [m["label"] for m in dashboard.markers("noise")]

    # Log scale, series toggle and PNG export work on a section panel too.
    page.locator("#chart-block-loss label[for='log-loss']").click()
    y_type = "(c) => Chart.getChart(c).options.scales.y.type"
    assert page.locator("#chart-block-loss canvas").evaluate(y_type) == "logarithmic"
    toggle = page.locator("#chart-block-loss [data-series='val/loss']")
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "false"
    with page.expect_download() as download:
        page.locator("#chart-block-loss [data-png]").click()
    assert download.value.suggested_filename == "sections-loss.png"


def test_built_in_run_keeps_loss_accuracy_and_lr_panels(dashboard):
    api, page = dashboard.api, dashboard.page
    run = api.start(name="classic", delay_ms=2.0)
    api.wait_step(run["id"], 30)
    dashboard.open_run(run["id"])
    dashboard.wait_for(lambda: page.evaluate(PANELS) == ["loss", "accuracy", "lr"])
    assert page.locator("#chart-block-accuracy [data-title]").inner_text() == "Accuracy"
    api.control(run["id"], "stop")


RULE_CASES = [
    # (key, the run's other keys, panel)
    ("train/loss", [], "loss"),
    ("val/loss", ["train/loss"], "loss"),
    ("val/acc", ["val/loss"], "accuracy"),
    ("train_acc", ["val_acc"], "accuracy"),
    ("train/f1", ["val/f1"], "f1"),
    ("eval_bleu", [], "bleu"),
    ("train/lr", [], "lr"),
    ("sys/rss_mb", ["sys/cpu_percent"], "sys MB"),
    ("grad/norm/loss_head.weight", ["grad/total_norm"], "grad"),
    ("update/ratio/lr_proj.weight", [], "update"),
    ("lr/group1", ["lr"], "lr"),
    ("acc/top5", [], "accuracy"),
    ("train_loss", ["val_loss"], "loss"),
    ("loss", [], "loss"),
    ("val_accuracy", [], "accuracy"),
    ("lr", [], "lr"),
    ("lr_decay", [], "lr"),
    ("learning_rate", [], "lr"),
    ("grad_norm", [], "other"),
    ("grad_norm", ["grad_max"], "grad"),
    ("grad_norm", ["grad/clip"], "grad"),
    ("val_f1", ["val_loss", "val_accuracy"], "f1"),
    ("accumulated_steps", [], "other"),
    ("epoch", [], "other"),
]


def test_the_panel_rule(dashboard):
    got = dashboard.page.evaluate(
        """async (cases) => {
            const { panelFor } = await import("/static/js/panels.js");
            return cases.map(([key, others]) => panelFor(key, [key, ...others]));
        }""",
        [[key, others] for key, others, _ in RULE_CASES],
    )
    assert got == [panel for *_, panel in RULE_CASES]
