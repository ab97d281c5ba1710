"""Issue 22, item 7: the page finished in English and German.

The key for pause is named in the page's language, "1 trial" is singular, the smoothing factor
reads like the page's other numbers, a built-in run says what it is instead of "No context
recorded", the lr legend names every group alike and zoomed step ticks are whole numbers.
"""

from __future__ import annotations

import re

import pytest
from script_runs import ScriptRun

pytestmark = pytest.mark.browser

TEXTS = {
    "en": {
        "space": "Space",
        "pause": "Pause (Space)",
        "trials": ["1 trial", "2 trials"],
        "smoothing": "0.60",
        "builtin": ("Trained by", ", the built-in task spiral"),
        "lr": ["lr", "lr (group 1)"],
    },
    "de": {
        "space": "Leertaste",
        "pause": "Pausieren (Leertaste)",
        "trials": ["1 Versuch", "2 Versuche"],
        "smoothing": "0,60",
        "builtin": ("Trainiert von", ", die eingebaute Aufgabe Spirale"),
        "lr": ["lr", "lr (Gruppe 1)"],
    },
}

# The trials line under a run's row, for one and for two trials (static/js/trials.js).
TRIALS = """async () => {
  const { renderTrials } = await import("/static/js/trials.js");
  const child = (id) => ({ id, parent_id: 1, status: "completed", config: { kind: "lr_test" } });
  const texts = [];
  for (const n of [1, 2]) {
    const li = document.createElement("li");
    renderTrials(li, 1, Array.from({ length: n }, (_, i) => child(10 + i)));
    texts.push(li.querySelector(".trials-toggle").textContent.replace(/\\s+/g, " ").trim());
  }
  return texts;
}"""


class TwoGroups(ScriptRun):
    """A script whose optimizer has two param groups: it logs `lr` and `lr/group1`."""

    def __init__(self, db_path) -> None:
        super().__init__(db_path, "two groups", {"lr": 0.1}, live=["lr"])

    def values(self, step: int) -> dict:
        return {"loss": 1 / (step + 1), "lr": 0.1, "lr/group1": 0.01}


@pytest.fixture
def two_groups(dashboard):
    script = TwoGroups(dashboard.server.db_path)
    yield script
    script.finish()


def set_language(dashboard, lang: str) -> None:
    page = dashboard.page
    page.evaluate(f"localStorage.setItem('lernkurve.lang', '{lang}')")
    page.reload()
    page.wait_for_selector("html[data-ready][data-connection='online']")


def legend(page, panel: str) -> list[str]:
    return page.locator(f"#chart-block-{panel} [data-legend] .legend-item").all_inner_texts()


@pytest.mark.parametrize("lang", ["en", "de"])
def test_texts_are_finished_in_both_languages(dashboard, two_groups, lang):
    api, page = dashboard.api, dashboard.page
    texts = TEXTS[lang]
    builtin = api.start(name="built in", delay_ms=20.0)
    api.wait_step(builtin["id"], 20)
    api.wait_step(two_groups.run.id, 20)
    set_language(dashboard, lang)
    dashboard.open_run(builtin["id"])

    # The key that pauses, in the page's language: in the Pause button's tip and the key list.
    pause = page.locator("[data-action='pause']")
    assert pause.get_attribute("title") == texts["pause"]
    page.locator("#shortcuts-btn").click()
    page.locator("#shortcuts").wait_for()
    assert page.locator("#shortcuts kbd").inner_text() == texts["space"]
    page.keyboard.press("Escape")
    assert "Space" not in page.locator("#view-run").inner_text() or lang == "en"

    # Plurals: one trial, two trials.
    assert page.evaluate(TRIALS) == texts["trials"]

    # The smoothing factor reads like the ticks beside it.
    assert page.locator("#smoothing-value").inner_text() == texts["smoothing"]

    # A built-in run records its context: the app and task that trained it, the versions.
    label, task = texts["builtin"]
    trained_by = page.locator("[data-about='app']")
    trained_by.wait_for()
    shown = trained_by.inner_text()
    assert shown.startswith("Lernkurve ") and shown.endswith(task), shown
    page.locator("#about-list dt", has_text=label).wait_for()  # the panel redraws live
    assert page.locator("[data-about='versions']").inner_text().startswith("Python ")
    assert not page.locator("#about-empty").is_visible()

    # Zoomed in, the step axis still shows whole steps.
    labels = page.evaluate(
        """() => {
            const c = Chart.getChart(document.querySelector('#chart-block-loss canvas'));
            c.zoomScale('x', { min: 3.3, max: 9.7 }, 'none');
            return c.scales.x.ticks.map((t) => [t.value, t.label]);
        }"""
    )
    assert len(labels) >= 2
    for value, label in labels:
        assert value == int(value), labels
        assert re.fullmatch(r"\d+", label), labels

    # A live value's "now" label writes its number as the box beside it does.
    dashboard.open_run(two_groups.run.id)
    field = page.locator("#hp-live [data-key='lr']")
    field.locator(".hp-now", has_text="0.1").wait_for()
    shown = field.locator(".hp-now").inner_text()
    assert re.search(r"\b0\.1\b", shown) and "0,1" not in shown, shown

    # The lr legend names its groups alike: lr, lr (group 1).
    dashboard.wait_for(lambda: len(legend(page, "lr")) == 2)
    assert legend(page, "lr") == texts["lr"]
