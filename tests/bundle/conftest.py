"""Bundle fixtures: `make dist` once per session (make skips it when the file is up to date)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "desktop"))  # the shared AppProcess helper

from appprocess import TOKEN, AppProcess  # noqa: E402


@pytest.fixture(scope="session")
def executable():
    """dist/lernkurve, built by `make dist` from build.spec (minutes the first time)."""
    started = time.monotonic()
    result = subprocess.run(
        ["make", "--no-print-directory", "dist"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=40 * 60,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    path = ROOT / "dist" / ("lernkurve.exe" if sys.platform == "win32" else "lernkurve")
    print(f"make dist: {time.monotonic() - started:.0f} s, {path.stat().st_size / 2**20:.0f} MiB")
    return path


@pytest.fixture
def run_executable(executable, tmp_path, data_dir):
    """Start the executable headless (no display), with its own data and cache folders."""
    started: list[AppProcess] = []
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(LERNKURVE_DATA_DIR=str(data_dir), LERNKURVE_CACHE_DIR=str(tmp_path / "cache"))

    def start() -> AppProcess:
        proc = AppProcess(
            [str(executable), "--token", TOKEN],
            env,
            tmp_path / f"stderr-{len(started)}.txt",
            cwd=tmp_path,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.finish()
