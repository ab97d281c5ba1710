"""The dashboard a notebook's output cell frames (run._repr_html_): it renders inside a page
of another local port, and a page of a foreign origin may not frame it."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest


@pytest.fixture
def shown_run(tmp_path, data_dir):
    """A run with a few points, and the HTML a notebook shows for it."""
    from lernkurve import launch
    from lernkurve.tracking.client import init

    run = init(name="framed-run", config={"lr": 0.1}, live=["lr"], db=tmp_path / "nb.db")
    for step in run.steps(5):
        run.log(step, loss=1.0 / (step + 1))
    run.flush()
    yield run, run._repr_html_()
    run.finish()
    launch.stop_background(run.db.url)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        pass


def serve_folder(folder, host: str):
    """A tiny web server for ``folder`` in a thread (a stand-in for Jupyter's); its base URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}"


@pytest.fixture
def notebook_page(tmp_path):
    """A page folder served from 127.0.0.1 (another port than the app's), and from 127.0.0.2:
    a loopback address too, but not an origin the app lets frame it."""
    folder = tmp_path / "notebook"
    folder.mkdir()
    local, local_url = serve_folder(folder, "127.0.0.1")
    foreign, foreign_url = serve_folder(folder, "127.0.0.2")
    yield folder, local_url, foreign_url
    for server in (local, foreign):
        server.shutdown()
        server.server_close()


def page_with(body: str) -> str:
    icon = '<link rel="icon" href="data:,">'  # no favicon request: a 404 would be an error
    return f"<!doctype html><html><head>{icon}</head><body><h1>notebook</h1>{body}</body></html>"


def test_the_dashboard_renders_in_a_local_pages_iframe(browser, shown_run, notebook_page):
    run, shown = shown_run
    folder, base, _ = notebook_page
    (folder / "cell.html").write_text(page_with(shown))
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(f"{base}/cell.html")
    frame = page.frame_locator("iframe")
    frame.locator(f"html[data-charts-rendered='{run.id}']").wait_for(timeout=30_000)
    assert frame.locator("text=framed-run").first.is_visible()
    assert frame.locator("#chart-block-loss canvas").count() == 1
    assert not errors
    context.close()


def test_a_foreign_origin_may_not_frame_the_dashboard(browser, shown_run, notebook_page):
    run, shown = shown_run
    folder, _, foreign = notebook_page
    (folder / "cell.html").write_text(page_with(shown))
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{foreign}/cell.html")
    frame = page.frames[-1]
    assert frame is not page.main_frame
    # Chromium shows its error page in place of a frame that frame-ancestors refuses.
    for _ in range(300):  # Playwright learns of the frame's navigation while it is called
        if frame.url not in ("", "about:blank"):
            break
        page.wait_for_timeout(100)
    assert frame.url.startswith("chrome-error://"), frame.url
    assert frame.locator("html[data-ready]").count() == 0
    context.close()
