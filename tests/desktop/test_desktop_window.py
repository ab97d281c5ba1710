"""The real Qt window under Xvfb: load, start a run, watch it stream, steer it, close."""

from __future__ import annotations

import json

import pytest

from lernkurve.store.database import Database
from lernkurve.store.models import RunRow
from support import wait_for

pytestmark = pytest.mark.desktop

LOSS_POINTS = """(() => {
  const canvas = document.querySelector('#chart-block-loss canvas');
  const chart = canvas && Chart.getChart(canvas);
  const set = chart && chart.data.datasets.find((d) => d.lkId === 'train_loss');
  return set ? set.data.length : 0;
})()"""


def set_field(selector: str, value) -> str:
    """JS that types ``value`` into a form control the way a person's input would land."""
    return f"""(() => {{
      const el = document.querySelector({json.dumps(selector)});
      el.value = {json.dumps(str(value))};
      el.dispatchEvent(new Event('input', {{bubbles: true}}));
      el.dispatchEvent(new Event('change', {{bubbles: true}}));
      return true;
    }})()"""


def test_window_loads_streams_steers_and_closes(launch, display, data_dir):
    app = launch(driver=True, display=display)
    app.wait_running()
    app.expect(r'^@@ \{"ready"')
    assert app.js("document.title") == "Lernkurve"
    assert app.js("document.documentElement.dataset.connection") == "online"
    assert app.js("location.pathname") == "/"

    # Start a run from the page's own form.
    app.js("document.getElementById('new-run-btn').click()")
    delay = "#new-hparams [data-key='delay_ms'] .form-control"
    app.wait_js(f"document.querySelector({json.dumps(delay)}) !== null")
    app.js(set_field("#new-task", "spiral"))
    app.wait_js(f"document.querySelector({json.dumps(delay)}) !== null")
    app.js(set_field("#new-name", "from the window"))
    app.js(set_field(delay, 20))
    app.js("document.getElementById('new-submit').click()")
    run_id = int(app.wait_js("location.hash.startsWith('#/run/') && location.hash.split('/')[2]"))
    run = app.api("GET", f"/api/runs/{run_id}")
    assert run["name"] == "from the window" and run["hparams"]["delay_ms"] == 20.0

    # Its points stream into the window's chart over the socket.
    # (the run imports torch and trains in the app's worker: slow on a busy 2-core machine)
    first = app.wait_js(f"{LOSS_POINTS} >= 3 && {LOSS_POINTS}", timeout=60)
    app.wait_js(f"{LOSS_POINTS} > {first + 10}")

    # An lr change made in the page reaches the trainer: it logs the new lr from then on.
    lr = "#hp-live [data-key='lr'] .form-control"
    app.wait_js(f"document.querySelector({json.dumps(lr)}) !== null")
    app.js(set_field(lr, 0.02))
    app.js("document.getElementById('hp-apply').click()")
    app.wait_api(f"/api/runs/{run_id}", lambda r: r["hparams"]["lr"] == 0.02)
    app.wait_api(
        f"/api/runs/{run_id}/metrics?keys=lr",
        lambda m: m["series"]["lr"] and m["series"]["lr"][-1][1] == pytest.approx(0.02),
    )
    events = app.api("GET", f"/api/runs/{run_id}/events")["events"]
    changes = [e["payload"]["changes"] for e in events if e["kind"] == "hparams"]
    assert changes == [{"lr": [0.1, 0.02]}]

    # Closing the window (its close button's path) ends everything within 2 s, exit code 0.
    app.close_window()
    code, waited = app.wait_exit(timeout=5)
    assert code == 0, app.stderr()[-3000:]
    assert waited <= 2.0
    assert app.leftovers() == []
    db = Database(data_dir / "lernkurve.db")
    with db.Session() as session:
        assert session.get(RunRow, run_id).status == "stopped"
    db.dispose()


def test_links_out_of_the_app_open_in_the_system_browser(launch, display, opened_urls):
    app = launch(driver=True, display=display)
    base = app.wait_running()
    app.expect(r'^@@ \{"ready"')
    app.js(
        """(() => {
          for (const [id, target] of [['out', ''], ['out-new', '_blank']]) {
            const a = document.createElement('a');
            a.id = id; a.href = 'https://example.org/' + id; a.target = target;
            a.textContent = id; document.body.appendChild(a);
          }
          return true;
        })()"""
    )
    app.js("document.getElementById('out').click()")
    app.js("document.getElementById('out-new').click()")
    app.js("window.open('https://example.org/opened'); true")
    urls = wait_for(lambda: len(opened_urls()) >= 3 and opened_urls())
    assert sorted(urls) == [
        "https://example.org/opened",
        "https://example.org/out",
        "https://example.org/out-new",
    ]
    # The window stayed on the app, and the app still navigates inside it.
    assert app.js("location.href").startswith(base)
    app.js("location.hash = '#/compare/'; true")
    assert app.js("location.href").startswith(base)
    app.close_window()
    assert app.wait_exit(5)[0] == 0
