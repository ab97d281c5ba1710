"""Desktop fixtures: a private Xvfb display and the real app (desktop.py) in its own process.

The app runs as the user runs it, in a process of its own session, so a test can tell what it
left running after it exited. Its stdout is read line by line; the driver (driver.py) adds a
remote control for the window's page.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from appprocess import TOKEN, AppProcess, start_xvfb

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("driver.py")


@pytest.fixture(scope="session")
def display():
    """An Xvfb display of our own (the number Xvfb picks, so parallel runs cannot clash)."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("no Xvfb here; `make system-deps` installs it")
    proc, name = start_xvfb(xvfb)
    if proc is None:
        pytest.fail("Xvfb did not start")
    yield name
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def app_env(tmp_path, data_dir):
    """The environment the app starts in: no display (tests add one), its own data folder."""
    browser = tmp_path / "browser.sh"
    opened = tmp_path / "opened.txt"
    browser.write_text(f'#!/bin/sh\necho "$1" >> "{opened}"\n')
    browser.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(
        LERNKURVE_DATA_DIR=str(data_dir),
        LERNKURVE_CACHE_DIR=str(tmp_path / "cache"),
        QTWEBENGINE_DISABLE_SANDBOX="1",  # Chromium's sandbox refuses root (CI runs as root)
        BROWSER=str(browser),
        PYTHONUNBUFFERED="1",
    )
    env.pop("LERNKURVE_TOKEN", None)
    return env


@pytest.fixture
def launch(tmp_path, app_env):
    """Start desktop.py (or the driver with ``driver=True``); every process is ended after."""
    started: list[AppProcess] = []

    def start(*args: str, driver: bool = False, display: str | None = None, command=None):
        env = dict(app_env)
        if display:
            env["DISPLAY"] = display
        script = DRIVER if driver else ROOT / "desktop.py"
        argv = command or [sys.executable, str(script)]
        proc = AppProcess(
            [*argv, "--token", TOKEN, *args], env, tmp_path / f"stderr-{len(started)}.txt"
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.finish()


@pytest.fixture
def opened_urls(tmp_path):
    """The URLs the app handed to the system browser (BROWSER is a script that notes them)."""
    path = tmp_path / "opened.txt"
    return lambda: path.read_text().split() if path.exists() else []
