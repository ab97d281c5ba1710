#!/usr/bin/env python
"""REST answer times at the edges of what the API accepts, and the server's exit on SIGTERM.

    python benchmarks/bench_api.py                       # about 1 min on a 2-core machine
    python benchmarks/bench_api.py --calls 50 --stops 5

Goals: the metrics route answers a key list at its bounds (refused or served) in <= 0.1 s;
a fuzzed body of the worst kind the fuzz sends is answered in <= 2 s; `python webserver.py`
exits 0 within 1 s of SIGTERM when idle and within 2 s while a built-in run trains (and that
run is then `stopped`). These were wall-clock limits in tests/test_validation.py,
tests/test_fuzz.py and tests/test_server.py, which now assert the behaviour only.

1. Answers: the app (build_app, no trainer) on a temp SQLite file with two runs of 64 keys,
   20 steps (tests/test_validation.py's) and 1,000 steps, spoken to through Flask's test
   client in this process (token included), as the tests do: the route's own work, no socket.
   Each request once untimed, then --calls times: median and max, and the status it must get.
2. Stop: `python webserver.py --port 0` on a fresh temp database, --stops times each way:
   idle (as soon as it prints its URL), and busy (a spiral run with 1,000 epochs started over
   HTTP, timed once it has logged 5 steps). Exit = SIGTERM sent -> the process gone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
ANSWER_GOAL = 0.1  # s, a key list at its bounds (tests/test_validation.py had it)
FUZZ_GOAL = 2.0  # s, the worst bodies tests/test_fuzz.py sends (its old bound)
STOP_GOALS = {"idle": 1.0, "busy": 2.0}  # s, SIGTERM -> exit (tests/test_server.py had them)
KEYS = 64  # the most keys a request may name
STEPS = {"narrow": 20, "wide": 1000}  # steps a key: the test's run, and a long one


def requests(runs: dict[str, int]) -> list[tuple[str, str, str, str | None, int, float | None]]:
    """(what, method, path, body, status it must get, goal) of each timed request."""
    metrics = f"/api/runs/{runs['wide']}/metrics"
    every_key = "?keys=" + ",".join(f"k{i}" for i in range(KEYS)) + "&max_points=1000"
    return [
        ("65 names (refused)", "GET", f"{metrics}?keys=" + ",".join(f"k{i}" for i in range(65)),
         None, 400, ANSWER_GOAL),
        ("32,000 names (refused)", "GET",
         f"{metrics}?keys=" + ",".join(f"k{i}" for i in range(32_000)), None, 400, ANSWER_GOAL),
        ("one name 32,000 times", "GET", f"{metrics}?keys=" + ",".join(["k0"] * 32_000), None,
         200, ANSWER_GOAL),
        (f"{KEYS} keys x {STEPS['narrow']} points", "GET",
         f"/api/runs/{runs['narrow']}/metrics{every_key}", None, 200, ANSWER_GOAL),
        (f"{KEYS} keys x {STEPS['wide']:,} points (a figure, no goal)", "GET",
         metrics + every_key, None, 200, None),
        ("fuzz: keys=k, x 32,000", "GET", f"{metrics}?keys=" + "k," * 32_000, None, 200,
         FUZZ_GOAL),
        ("fuzz: 20,000-deep [[...]] body", "POST", "/api/runs", "[" * 20_000 + "]" * 20_000,
         400, FUZZ_GOAL),
        ("fuzz: since_id=2**63", "GET", f"{metrics}?since_id={2**63}", None, 400, FUZZ_GOAL),
    ]  # fmt: skip


def time_answers(work: Path, calls: int) -> list[dict]:
    from lernkurve.launch import build_app

    app = build_app(
        {"DATABASE": str(work / "answers.db"), "TOKEN": TOKEN, "DATA_DIR": str(work),
         "START_WORKER": False}
    )  # fmt: skip
    db = app.extensions["lernkurve"].db
    runs = {}
    for name, steps in STEPS.items():
        run_id = runs[name] = db.insert_run(name=name, task="spiral", status="stopped").id
        with db.engine.begin() as conn:
            rows = [
                (run_id, f"k{i}", s, s * 1e-3 + i, 0.0) for i in range(KEYS) for s in range(steps)
            ]
            db.insert_metrics(conn, rows)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    results = []
    try:
        for what, method, path, body, status, goal in requests(runs):
            times = []
            for call in range(calls + 1):  # the first one untimed: imports, caches
                started = time.perf_counter()
                answer = client.open(path, method=method, data=body, headers=headers)
                answer.get_data()
                elapsed = time.perf_counter() - started
                if answer.status_code != status:
                    raise RuntimeError(f"{what}: {answer.status_code}, not {status}")
                if call:
                    times.append(elapsed)
            results.append({"what": what, "status": status, "goal": goal, "times": times})
    finally:
        app.extensions["lernkurve"].shutdown()
        db.dispose()
    return results


def post(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        base + path, json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def get(base: str, path: str) -> dict:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def time_stop(work: Path, busy: bool) -> float:
    """Start the server on a fresh database, (busy: start a run), SIGTERM: seconds to exit."""
    work.mkdir(parents=True)
    db = work / "app.db"
    env = {**os.environ, "LERNKURVE_DATA_DIR": str(work)}
    env.pop("LERNKURVE_DB", None)
    process = subprocess.Popen(
        [sys.executable, "webserver.py", "--port", "0", "--db", str(db), "--token", TOKEN],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        found = re.search(r"(http://\S+)/\?token", line)
        if found is None:
            raise RuntimeError(f"no URL in {line!r}: {process.stderr.read()[-2000:]}")
        if busy:
            base = found.group(1)
            run_id = post(base, "/api/runs", {"task": "spiral", "hparams": {"epochs": 1000}})["id"]
            deadline = time.monotonic() + 120
            while get(base, f"/api/runs/{run_id}")["step"] < 5:
                if time.monotonic() > deadline:
                    raise RuntimeError("the run logged no 5 steps in 120 s")
                time.sleep(0.02)
        started = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        elapsed = time.perf_counter() - started
    finally:
        if process.poll() is None:
            process.kill()
        _, err = process.communicate()
    if code != 0:
        raise RuntimeError(f"exit code {code}: {err[-2000:]}")
    if busy:
        with sqlite3.connect(db) as conn:
            status = conn.execute("SELECT status FROM runs").fetchone()
        if status != ("stopped",):
            raise RuntimeError(f"the run was left {status}, not stopped")
    return elapsed


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="timed calls of each request")
    parser.add_argument("--stops", type=int, default=3, help="timed stops, idle and busy each")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)

    ok = True
    with tempfile.TemporaryDirectory(prefix="lernkurve-bench-api-") as tmp:
        work = Path(tmp)
        os.environ["LERNKURVE_DATA_DIR"] = tmp
        answers = time_answers(work, args.calls)
        stops = {"idle": [], "busy": []}
        for trial in range(args.stops):  # alternate, so load drifts hit both alike
            for kind in stops:
                stops[kind].append(time_stop(work / f"{kind}-{trial}", kind == "busy"))

    load = os.getloadavg()[0]
    print(
        f"\n1. REST answers (Flask test client, {args.calls} calls each; {os.cpu_count()} CPUs, "
        f"load {load:.2f})"
    )
    header = "| request | status | median | max | goal (median) | |"
    print(header + "\n|" + "---|" * (header.count("|") - 1))
    for row in answers:
        median = statistics.median(row["times"])
        goal = "" if row["goal"] is None else f"<= {row['goal'] * 1000:.0f} ms"
        met = row["goal"] is None or median <= row["goal"]
        ok &= met
        print(
            f"| {row['what']} | {row['status']} | {median * 1000:.1f} ms | "
            f"{max(row['times']) * 1000:.1f} ms | {goal} | {verdict(met) if goal else ''} |"
        )

    print(f"\n2. `python webserver.py`: SIGTERM -> exit 0 ({args.stops} stops each)")
    header = "| server | median | min | max | goal (median) | |"
    print(header + "\n|" + "---|" * (header.count("|") - 1))
    for kind, times in stops.items():
        median = statistics.median(times)
        met = median <= STOP_GOALS[kind]
        ok &= met
        what = "idle" if kind == "idle" else "a spiral run training (left `stopped`)"
        print(
            f"| {what} | {median:.2f} s | {min(times):.2f} s | {max(times):.2f} s | "
            f"<= {STOP_GOALS[kind]:.0f} s | {verdict(met)} |"
        )
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
