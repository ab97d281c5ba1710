"""create_app configures only; start_app starts the stream and the worker."""

from __future__ import annotations

import re
import threading

from lernkurve.launch import build_app
from lernkurve.web.app import start_app
from support import ROOT, TOKEN, wait_for


def test_create_app_starts_no_thread_and_start_app_starts_them(db_path):
    before = {t.name for t in threading.enumerate()}
    app = build_app({"DATABASE": str(db_path), "TOKEN": TOKEN})
    assert {t.name for t in threading.enumerate()} == before
    start_app(app)
    try:
        assert wait_for(lambda: len(threading.enumerate()) >= len(before) + 2)
    finally:
        app.extensions["lernkurve"].shutdown()


def test_the_page_preloads_every_module_it_imports(client):
    """A module missing here would load one level of imports later (a round trip each)."""
    page = client.get("/").get_data(as_text=True)
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/static/(js/[\w-]+\.js)"', page))
    imported = {"js/main.js"}
    for module in (ROOT / "static" / "js").glob("*.js"):
        imported |= {
            f"js/{name}" for name in re.findall(r'from "\./([\w-]+\.js)"', module.read_text())
        }
    assert imported and imported <= preloaded
    assert "js/theme-init.js" not in preloaded  # a classic script, loaded by base.html
