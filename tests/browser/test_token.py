"""The token stays with the app's own origin: another port on 127.0.0.1 never receives it.

Cookies are not kept apart by port, so a token cookie would ride along to every local server;
the page keeps it in sessionStorage (per origin) and sends it as a header.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.browser


class Recorder(BaseHTTPRequestHandler):
    """Answers every GET with a small page and keeps the headers it was sent."""

    seen: list[dict] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).seen.append(
            {"path": self.path, **{k.lower(): v for k, v in self.headers.items()}}
        )
        body = b"<!doctype html><title>other</title><img src='/pixel.png'>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def other_server():
    """A plain HTTP server on another port of 127.0.0.1, recording what it receives."""
    Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], Recorder.seen
    httpd.shutdown()
    httpd.server_close()


def test_another_port_never_receives_the_token(dashboard, other_server):
    page, token = dashboard.page, dashboard.server.token
    assert "token" not in page.url  # the address bar lost it at once
    assert page.evaluate("sessionStorage.getItem('lernkurve.token')") == token
    assert page.context.cookies() == []
    port, seen = other_server
    other = f"http://127.0.0.1:{port}"
    page.evaluate(
        "(url) => { const a = document.createElement('a'); a.href = url; "
        "a.target = '_self'; document.body.append(a); a.click(); }",
        f"{other}/link",
    )
    page.wait_for_url(f"{other}/link")
    side = page.context.new_page()
    side.goto(f"{other}/direct")
    side.close()
    dashboard.wait_for(lambda: {"/link", "/direct", "/pixel.png"} <= {r["path"] for r in seen})
    for request in seen:
        assert token not in repr(request), request
        assert "cookie" not in request and "authorization" not in request


def test_the_app_works_after_a_reload(dashboard):
    page, api = dashboard.page, dashboard.api
    page.reload()
    page.wait_for_selector("html[data-ready][data-connection='online']")
    run = api.start("spiral", name="after-reload", epochs=1)
    page.wait_for_selector(f"[data-run-id='{run['id']}']")
    dashboard.open_run(run["id"])
    api.wait_status(run["id"], "completed")
    with page.expect_download() as download:
        page.locator("#export-csv").click()
    csv = download.value.path().read_text()
    assert csv.startswith("step,key,value,wall_time") and len(csv.splitlines()) > 38


def test_a_tab_opened_without_the_token_is_locked(browser, server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.base_url)
    page.wait_for_selector("html[data-locked='true']")
    assert not page.locator("#error-banner").is_hidden()
    context.close()
