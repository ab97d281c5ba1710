#!/usr/bin/env python
"""Start-up benchmark: launch -> dashboard usable, from source and from the one-file executable.

    python benchmarks/bench_startup.py                 # runs `make dist` first if needed
    python benchmarks/bench_startup.py --trials 9 --no-build

Goals (issue 4): from source <= 2 s, from the executable <= 3 s; the executable <= 350 MB.

Each launch opens the real Qt window on an Xvfb display of its own. "Usable" is what the page
itself says: its run list is in and its live socket is connected
(html[data-ready][data-connection=online]); the app notices and prints "dashboard ready". A
launch is timed from just before its process starts to that line. `window` is when the native
window was on screen (the app's start-up log); the executable shows a splash screen before it.
Launches of a kind share one data folder, as one user's would (an untimed launch warms it);
the executable's `first launch` is the one that unpacks it (empty cache), timed on its own.
Each launch ends with SIGTERM; `exit` is the time from the signal to the process gone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "desktop"))

from appprocess import AppProcess, start_xvfb  # noqa: E402

GOALS = {"source": 2.0, "executable": 3.0}
SIZE_GOAL_MB = 350
EXE = ROOT / "dist" / ("lernkurve.exe" if sys.platform == "win32" else "lernkurve")


def launch(command: list[str], env: dict, log: Path) -> dict:
    """One launch: seconds to window shown, to dashboard ready, and from SIGTERM to exit."""
    started = time.time()
    app = AppProcess(command, env, log)
    try:
        shown = app.expect(r"window shown after ([\d.]+) s", timeout=180)
        ready_line = app.expect(r"dashboard ready after ([\d.]+) s", timeout=180)
        ready = time.time() - started
        app.signal(signal.SIGTERM)
        code, exit_s = app.wait_exit(timeout=10)
        if code != 0:
            raise RuntimeError(f"exit code {code}: {app.stderr()[-2000:]}")
        return {
            "ready": ready,
            "ready_self": float(ready_line.group(1)),
            "window": float(shown.group(1)) + (ready - float(ready_line.group(1))),
            "exit": exit_s,
            "unpacked": "unpacked the app once" in app.stderr(),
        }
    finally:
        app.finish()


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="timed launches of each kind")
    parser.add_argument("--no-build", action="store_true", help="do not run `make dist`")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)

    if not args.no_build:
        print("make dist (skipped by make when dist/lernkurve is up to date) ...", flush=True)
        subprocess.run(["make", "--no-print-directory", "-s", "dist"], cwd=ROOT, check=True)
    xvfb, display = start_xvfb()
    if xvfb is None:
        print("bench_startup: needs Xvfb (make system-deps)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="lernkurve-bench-startup-"))
    base = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "LERNKURVE_DB")}
    base.update(DISPLAY=display, LERNKURVE_STARTUP_LOG="1", QTWEBENGINE_DISABLE_SANDBOX="1")
    kinds = {"source": [sys.executable, str(ROOT / "desktop.py")]}
    if EXE.is_file():
        kinds["executable"] = [str(EXE)]
    envs = {
        kind: dict(
            base, LERNKURVE_DATA_DIR=str(work / kind), LERNKURVE_CACHE_DIR=str(work / "cache")
        )
        for kind in kinds
    }
    results: dict[str, list[dict]] = {kind: [] for kind in kinds}
    first = None
    try:
        for kind, command in kinds.items():  # untimed warm-up; the executable's is its unpack
            row = launch(command, envs[kind], work / f"{kind}-warmup.log")
            if kind == "executable":
                first = row
        for trial in range(args.trials):  # alternate kinds, so load drifts hit both alike
            for kind, command in kinds.items():
                results[kind].append(launch(command, envs[kind], work / f"{kind}-{trial}.log"))
    finally:
        xvfb.terminate()
        xvfb.wait(10)
        unpacked = sum(f.lstat().st_size for f in (work / "cache").rglob("*") if not f.is_symlink())
        shutil.rmtree(work, ignore_errors=True)  # the unpacked app alone is 0.8 GB

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nStart-up, launch -> dashboard usable ({args.trials} launches each, load {load:.2f})")
    header = "| launch | ready median | min | max | window | exit | goal | |"
    print(header + "\n|" + "---|" * (header.count("|") - 1))
    ok = True
    for kind, rows in results.items():
        ready = [r["ready"] for r in rows]
        met = median(rows, "ready") <= GOALS[kind]
        ok &= met
        print(
            f"| {kind} | {median(rows, 'ready'):.2f} s | {min(ready):.2f} s | "
            f"{max(ready):.2f} s | {median(rows, 'window'):.2f} s | "
            f"{median(rows, 'exit'):.2f} s | <= {GOALS[kind]:.0f} s | "
            f"{'MET' if met else 'MISSED'} |"
        )
    if first is not None:
        print(
            f"| executable, first launch (unpacks) | {first['ready']:.2f} s | | | "
            f"{first['window']:.2f} s | {first['exit']:.2f} s | | |"
        )
    if EXE.is_file():
        size = EXE.stat().st_size
        met = size <= SIZE_GOAL_MB * 1e6
        ok &= met
        print(
            f"\n| executable | size | goal | |\n|---|---|---|---|\n"
            f"| {EXE.relative_to(ROOT)} | {size / 1e6:.0f} MB ({size / 2**20:.0f} MiB) | "
            f"<= {SIZE_GOAL_MB} MB | {'MET' if met else 'MISSED'} |"
        )
        print(f"\nunpacked once into the user's cache: {unpacked / 1e6:.0f} MB")
    else:
        print(f"\n{EXE.relative_to(ROOT)} is not built (make dist): executable not measured")
        ok = False
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
