"""create_app configures only; start_app starts the stream and the worker."""

from __future__ import annotations

import threading

from lernkurve.launch import build_app
from lernkurve.web.app import start_app
from support import TOKEN, wait_for


def test_create_app_starts_no_thread_and_start_app_starts_them(db_path):
    before = {t.name for t in threading.enumerate()}
    app = build_app({"DATABASE": str(db_path), "TOKEN": TOKEN})
    assert {t.name for t in threading.enumerate()} == before
    start_app(app)
    try:
        assert wait_for(lambda: len(threading.enumerate()) >= len(before) + 2)
    finally:
        app.extensions["lernkurve"].shutdown()
