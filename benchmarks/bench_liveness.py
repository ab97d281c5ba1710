#!/usr/bin/env python
"""A user's script as the app sees it: client.init -> listed, kill -9 -> `interrupted`.

    python benchmarks/bench_liveness.py               # about 1 min on a 2-core machine
    python benchmarks/bench_liveness.py --trials 10

Goals: a script's run is in GET /api/runs, `running`, within 1 s of its client.init; a
script killed with SIGKILL (no goodbye) is shown `interrupted` within 5 s (the heartbeat
timeout, 3 s, plus the sweep). These were wall-clock limits in tests/test_scripts.py, which
now asserts only that both happen.

`python webserver.py --port 0` on a temp SQLite file; per trial, tests/scripts/steered.py
(plain PyTorch and client.init, 5 ms steps) in its own process. Appear = this process reads
the script's "init" line (printed right before client.init, after `import torch`) -> GET
/api/runs lists the run as `running` (polled every 10 ms over HTTP). Then, once the run has
logged 20 steps: SIGKILL -> GET /api/runs/<id> says `interrupted`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "scripts" / "steered.py"
TOKEN = "bench-token"
APPEAR_GOAL, INTERRUPTED_GOAL = 1.0, 5.0  # s (tests/test_scripts.py had them)
POLL = 0.01  # s between looks
GUARD = 120.0  # s: a look that never succeeds ends the benchmark


def get(base: str, path: str) -> dict:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def runs(base: str) -> list[dict]:
    return get(base, "/api/runs")["runs"]


def poll(predicate, what: str) -> float:
    """Seconds until predicate() is true, looking every POLL s."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > GUARD:
            raise RuntimeError(f"{what}: not within {GUARD:.0f} s")
        time.sleep(POLL)
    return time.monotonic() - started


def trial(base: str, env: dict) -> tuple[float, float]:
    """One script: (init -> listed running, SIGKILL -> interrupted) in seconds."""
    proc = subprocess.Popen(
        [sys.executable, "-u", str(SCRIPT), "100000", "0.005"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        if line != "init\n":
            raise RuntimeError(f"steered.py said {line!r}: {proc.stdout.read()[-2000:]}")
        init_at = time.monotonic()
        line = proc.stdout.readline()
        if not line.startswith("run "):
            raise RuntimeError(f"steered.py said {line!r}: {proc.stdout.read()[-2000:]}")
        run_id = int(line.split()[1])

        def listed() -> bool:
            return any(r["id"] == run_id and r["status"] == "running" for r in runs(base))

        poll(listed, "listed")
        appear = time.monotonic() - init_at
        poll(lambda: get(base, f"/api/runs/{run_id}")["step"] > 20, "20 steps")
        proc.kill()  # SIGKILL: no chance to say goodbye
        proc.wait()
        gone = poll(lambda: get(base, f"/api/runs/{run_id}")["status"] == "interrupted", "kill")
        return appear, gone
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="scripts started and killed")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)

    appear, gone = [], []
    with tempfile.TemporaryDirectory(prefix="lernkurve-bench-liveness-") as tmp:
        db = Path(tmp) / "app.db"
        env = {**os.environ, "LERNKURVE_DB": str(db), "LERNKURVE_DATA_DIR": tmp}
        server = subprocess.Popen(
            [sys.executable, "-u", "webserver.py", "--port", "0", "--db", str(db),
             "--token", TOKEN],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            line = server.stdout.readline()
            found = re.search(r"(http://\S+)/\?token", line)
            if found is None:
                raise RuntimeError(f"no URL in {line!r}")
            for _ in range(args.trials):
                seconds = trial(found.group(1), env)
                appear.append(seconds[0])
                gone.append(seconds[1])
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            server.stdout.close()

    from lernkurve.web.streamer import HEARTBEAT_TIMEOUT

    print(
        f"\nA script's run in the app ({args.trials} scripts; heartbeat timeout "
        f"{HEARTBEAT_TIMEOUT:g} s; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f})"
    )
    header = "| from -> to | median | min | max | goal (median) | |"
    print(header + "\n|" + "---|" * (header.count("|") - 1))
    ok = True
    for what, times, goal in (
        ("client.init -> listed `running` in GET /api/runs", appear, APPEAR_GOAL),
        ("kill -9 -> `interrupted`", gone, INTERRUPTED_GOAL),
    ):
        median = statistics.median(times)
        met = median <= goal
        ok &= met
        print(
            f"| {what} | {median:.2f} s | {min(times):.2f} s | {max(times):.2f} s | "
            f"<= {goal:g} s | {verdict(met)} |"
        )
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
