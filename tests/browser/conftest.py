"""Browser fixtures: the real app on a free port with a temp database, driven by headless Chromium.

Every page is watched: a console error, an uncaught exception or a request to anywhere but the
app itself fails the test that caused it.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from support import Api, wait_for

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium here; `make system-deps` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Server:
    app: object
    base_url: str
    token: str
    api: Api
    db_path: Path


@pytest.fixture
def server(tmp_path, data_dir):
    from lernkurve.launch import build_app
    from lernkurve.web.app import start_app
    from lernkurve.web.server import ServerThread

    token = secrets.token_urlsafe(16)
    db_path = tmp_path / "browser.db"
    app = start_app(
        build_app({"DATABASE": str(db_path), "TOKEN": token, "DATA_DIR": str(data_dir)})
    )
    thread = ServerThread(app, "127.0.0.1", 0).start()
    yield Server(app, thread.base_url, token, Api(app, token), db_path)
    app.extensions["lernkurve"].shutdown()  # live runs end as `stopped`
    thread.stop()


@dataclass
class Dashboard:
    """A page of the dashboard plus what it logged and requested."""

    page: object
    server: Server
    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    pending: set = field(default_factory=set)  # the page's requests not answered yet

    @property
    def api(self) -> Api:
        return self.server.api

    def forget_errors(self, pattern: str) -> None:
        """Drop console errors a test provoked on purpose (a refused request, going offline)."""
        self.errors[:] = [e for e in self.errors if not re.search(pattern, e)]

    @staticmethod
    def wait_for(predicate, timeout: float = 15.0):
        return wait_for(predicate, timeout)

    def open_run(self, run_id: int) -> None:
        self.page.evaluate(f"location.hash = '#/run/{run_id}'")
        self.page.wait_for_selector(f"html[data-charts-rendered='{run_id}']")

    def series(self, chart: str, key: str) -> list[list]:
        """The points a chart ("loss", ... or "cmp") holds for one series, as [step, value].

        A run's panels appear with their first key, so a panel not there yet holds nothing.
        """
        block = "cmp-chart-block" if chart == "cmp" else f"chart-block-{chart}"
        return self.page.evaluate(
            """([block, key]) => {
                const c = Chart.getChart(document.querySelector(`#${block} canvas`));
                if (!c) return [];
                const i = c.data.datasets.findIndex((d) => d.lkId === key);
                return i < 0 ? [] : c.data.datasets[i].data.map((p) => [p.s, p.y]);
            }""",
            [block, key],
        )

    def markers(self, chart: str) -> list[dict]:
        """The event markers (annotations) drawn on a chart."""
        return self.page.evaluate(
            """(chart) => {
                const c = Chart.getChart(document.querySelector(`#chart-block-${chart} canvas`));
                if (!c) return [];
                return Object.values(c.options.plugins.annotation.annotations)
                    .map((a) => ({value: a.value, label: a.label.content}));
            }""",
            chart,
        )

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until every request the page sent is answered: a test that ends its script
        while a change is on its way would see the ended run's 409 in the console."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            self.page.wait_for_timeout(20)  # (the page's events arrive while Playwright waits)

    def field(self, container: str, key: str):
        """The number or text box of an hparam field."""
        return self.page.locator(f"{container} [data-key='{key}'] .form-control").first


@pytest.fixture
def dashboard(browser, server):
    context = browser.new_context(
        locale="en-US", viewport={"width": 1400, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(30_000)  # a busy 2-core CI box trains slowly
    dash = Dashboard(page, server)
    page.on("console", lambda m: m.type == "error" and dash.errors.append(m.text))
    page.on("pageerror", lambda e: dash.errors.append(f"uncaught: {e}\n{e.stack}"))

    def request(req):
        host = urlsplit(req.url).hostname
        if req.url.startswith(("http", "ws")) and host != "127.0.0.1":
            dash.external.append(req.url)

    page.on("request", request)
    page.on("request", lambda req: dash.pending.add(req))
    page.on("requestfinished", lambda req: dash.pending.discard(req))
    page.on("requestfailed", lambda req: dash.pending.discard(req))
    page.goto(f"{server.base_url}/?token={server.token}")
    page.wait_for_selector("html[data-ready][data-connection='online']")
    yield dash
    context.close()
    assert dash.external == [], f"requests outside the app: {dash.external}"
    assert dash.errors == [], f"console errors: {dash.errors}"
