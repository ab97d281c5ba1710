"""Bundle fixtures: `make dist` once per session (make skips it when the file is up to date)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "desktop"))  # the shared AppProcess helper

from appprocess import TOKEN, AppProcess  # noqa: E402

from support import DIST_BUILD, DistBuild  # noqa: E402


@pytest.fixture(scope="session")
def executable(request):
    """dist/lernkurve, built by `make dist` from build.spec (minutes the first time): the
    session started the build when it collected this (tests/conftest.py), or it runs now."""
    build = request.config.stash.get(DIST_BUILD, None)
    if build is None and os.environ.get(DistBuild.ENV):  # an xdist worker: the controller's
        build = DistBuild.attach(os.environ[DistBuild.ENV])
    build = build or DistBuild.start()
    returncode, output, seconds = build.wait(timeout=40 * 60)
    assert returncode == 0, output
    path = ROOT / "dist" / ("lernkurve.exe" if sys.platform == "win32" else "lernkurve")
    print(f"make dist: {seconds:.0f} s since it started, {path.stat().st_size / 2**20:.0f} MiB")
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
