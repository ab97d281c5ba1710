"""What the page benchmarks share: the app served on a free port from a temporary folder,
and Chromium launched and watched for console errors as the browser tests do."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Served:
    app: Any
    db: Any
    server: Any
    token: str
    folder: Path

    @property
    def url(self) -> str:
        return f"{self.server.base_url}/?token={self.token}"


@contextmanager
def served_app(**config: Any) -> Iterator[Served]:
    """The app (no worker) on a temporary database, served until the block ends."""
    from lernkurve.launch import build_app
    from lernkurve.web.app import start_app
    from lernkurve.web.server import ServerThread

    with tempfile.TemporaryDirectory(prefix="lernkurve-bench-") as tmp:
        token = secrets.token_urlsafe(16)
        settings = {
            "DATABASE": str(Path(tmp) / "bench.db"),
            "TOKEN": token,
            "START_WORKER": False,
            "DATA_DIR": tmp,
            **config,
        }
        app = start_app(build_app(settings))
        server = ServerThread(app, "127.0.0.1", 0).start()
        try:
            yield Served(app, app.extensions["lernkurve"].db, server, token, Path(tmp))
        finally:
            app.extensions["lernkurve"].shutdown()
            server.stop()


@dataclass
class Browser:
    browser: Any
    page: Any
    errors: list[str] = field(default_factory=list)


def open_browser(playwright: Any, chromium: str) -> Browser:
    """Chromium and one page (1400x900, English), its console errors collected."""
    browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="en-US")
    opened = Browser(browser, page)
    page.on("console", lambda m: m.type == "error" and opened.errors.append(m.text))
    page.on("pageerror", lambda e: opened.errors.append(str(e)))
    return opened
