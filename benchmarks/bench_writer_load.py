#!/usr/bin/env python
"""Writers under load: four flooding scripts on one database, and a light run beside a heavy one.

    python benchmarks/bench_writer_load.py                    # SQLite, about 1 min
    python benchmarks/bench_writer_load.py --store sqlite,postgres --trials 5

Goals, per trial (the worst writer of the trial; the verdict on the median over trials):
1. four scripts logging 50 scalars a step as fast as they can (tests/scripts/flood.py, 3 s,
   LERNKURVE_PENDING_MB=16): each process's peak RSS < 120 MB (~55 MB of Python and
   SQLAlchemy + the 16 MB bound on unwritten points + slack); a running run's heartbeat never
   older than the heartbeat timeout (3 s); each process gone < 2 s after its run shows
   `completed`; a reader (the server's runs query) never waits >= 2 s.
2. a heavy logger (10,000 steps x 50 scalars, as fast as it goes) started first, then a light
   run (tests/scripts/paced.py: 400 steps of 2 scalars, 20 ms apart): the light run's points
   reach a Socket.IO watcher p99 < 1 s after Run.log stamped them.
These were limits in tests/test_writer_load.py and tests/test_postgres.py, which now assert
the behaviour only (every process exits 0, no live run is shown `interrupted`, `completed`
comes with the last point, every light point arrives); the counts of those are shown here too.

1. This process polls every 50 ms as the server does: mark_interrupted, then one query of
   every run's status and heartbeat (timed: `slowest read`); RSS of each live script (psutil).
2. The app (build_app + start_app, no trainer) in this process, its Socket.IO test client
   subscribed to the light run from id 0; delay = time this process takes a `metrics` message
   off the test client - the point's wall_time, for points logged after the subscription.
With `postgres` in --store, a throwaway PostgreSQL cluster as the tests start it (fsync off).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOD = ROOT / "tests" / "scripts" / "flood.py"
PACED = ROOT / "tests" / "scripts" / "paced.py"
TOKEN = "bench-token"
WRITERS, SECONDS, KEYS, PENDING_MB = 4, 3.0, 50, 16  # as tests/test_writer_load.py
RSS_GOAL_MB, EXIT_GOAL, READ_GOAL = 120.0, 2.0, 2.0
HEAVY_STEPS, LIGHT_STEPS, LIGHT_DELAY = 10_000, 400, 0.02  # as tests/test_postgres.py
DELAY_P99_GOAL = 1.0
GUARD = 120.0  # s: scripts that run longer end the benchmark
# The heavy logger of tests/test_postgres.py: one burst of steps x 50 scalars.
HEAVY = """
import sys
from lernkurve.tracking import client
run = client.init(name="heavy", config={}, system_metrics=False)
print(f"run {run.id}", flush=True)
keys = [f"k{i}" for i in range(50)]
for step in range(int(sys.argv[1])):
    run.log({key: step + i for i, key in enumerate(keys)}, step=step)
run.finish()
print(f"logged {int(sys.argv[1]) * len(keys)}", flush=True)
"""


def start(args: list[str], env: dict) -> tuple[subprocess.Popen, int]:
    """A script that prints "run <id>" first."""
    proc = subprocess.Popen(
        [sys.executable, "-u", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    line = proc.stdout.readline()
    if not line.startswith("run "):
        raise RuntimeError(line + proc.stderr.read()[-3000:])
    return proc, int(line.split()[1])


def finish(proc: subprocess.Popen) -> str:
    """The script's stdout; raises unless it exited 0."""
    out, err = proc.communicate(timeout=GUARD)
    if proc.returncode != 0:
        raise RuntimeError(f"a script exited {proc.returncode}: {err[-3000:]}")
    return out


# -- 1. four flooding writers -----------------------------------------------------------------


class Watch:
    """What this process saw of one flooding script."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.peak_rss = self.max_beat_age = 0.0
        self.false_interrupted = 0
        self.completed_at: float | None = None
        self.count_when_completed: int | None = None
        self.exited_at: float | None = None
        threading.Thread(target=self._wait, daemon=True).start()

    def _wait(self) -> None:
        self.proc.wait()
        self.exited_at = time.monotonic()


def rss_mb(pid: int) -> float:
    import psutil

    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return 0.0


def look(db, watches: dict[int, Watch]) -> float:
    """One look as the server takes it (the sweep, then the runs); seconds the read took."""
    from sqlalchemy import text

    from lernkurve.web.streamer import mark_interrupted

    mark_interrupted(db)
    done = ",".join(str(i) for i, w in watches.items() if w.completed_at is not None) or "0"
    query = text(
        "SELECT id, status, heartbeat_at, CASE WHEN status = 'completed' AND id NOT IN "
        f"({done}) THEN (SELECT count(*) FROM metrics WHERE metrics.run_id = runs.id) END "
        "FROM runs"
    )
    started = time.monotonic()
    with db.engine.connect() as conn:
        rows = conn.execute(query).all()
    read = time.monotonic() - started
    stamp = time.time()
    for run_id, status, beat, count in rows:
        watch = watches[run_id]
        if watch.exited_at is None:
            watch.peak_rss = max(watch.peak_rss, rss_mb(watch.proc.pid))
            watch.false_interrupted += status == "interrupted"
        if status == "running":
            watch.max_beat_age = max(watch.max_beat_age, stamp - beat)
        if status == "completed" and watch.completed_at is None:
            watch.completed_at, watch.count_when_completed = time.monotonic(), count
    return read


def flood_trial(url: str, env: dict) -> dict:
    from lernkurve.store.database import Database

    env = {**env, "LERNKURVE_DB": url, "LERNKURVE_PENDING_MB": str(PENDING_MB)}
    command = [str(FLOOD), str(SECONDS), str(KEYS)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-u", *command], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        for _ in range(WRITERS)
    ]  # fmt: skip
    watches = {}
    for proc in procs:
        line = proc.stdout.readline()
        if not line.startswith("run "):
            raise RuntimeError(line + proc.stderr.read()[-3000:])
        watches[int(line.split()[1])] = Watch(proc)
    db = Database(url)
    slowest_read, deadline = 0.0, time.monotonic() + GUARD
    try:
        while any(w.exited_at is None for w in watches.values()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the writers did not finish within {GUARD:.0f} s")
            slowest_read = max(slowest_read, look(db, watches))
            time.sleep(0.05)
        slowest_read = max(slowest_read, look(db, watches))  # completed and gone between looks
        complete = 0
        for watch in watches.values():
            logged = int(finish(watch.proc).split()[-1])
            complete += watch.count_when_completed == logged
    finally:
        for watch in watches.values():
            if watch.proc.poll() is None:
                watch.proc.kill()
                watch.proc.communicate()
        db.dispose()
    ws = watches.values()
    return {
        "rss": max(w.peak_rss for w in ws),
        "beat": max(w.max_beat_age for w in ws),
        # a run never seen `completed` is in `complete`, not timed here
        "exit": max((w.exited_at - w.completed_at for w in ws if w.completed_at), default=0.0),
        "read": slowest_read,
        "interrupted": sum(w.false_interrupted for w in ws),
        "complete": complete,
    }


# -- 2. a light run's stream beside a heavy logger --------------------------------------------


def stream_trial(url: str, env: dict, data_dir: str) -> dict:
    from sqlalchemy import text

    from lernkurve.launch import build_app
    from lernkurve.web.app import start_app

    env = {**env, "LERNKURVE_DB": url, "LERNKURVE_PENDING_MB": "32"}
    app = start_app(
        build_app({"DATABASE": url, "TOKEN": TOKEN, "DATA_DIR": data_dir, "START_WORKER": False})
    )
    client = app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def status(run_id: int) -> str:
        return client.get(f"/api/runs/{run_id}", headers=headers).get_json()["status"]

    heavy = subprocess.Popen(
        [sys.executable, "-u", "-c", HEAVY, str(HEAVY_STEPS)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    light, light_id = start([str(PACED), str(LIGHT_STEPS), str(LIGHT_DELAY)], env)
    sc = app.extensions["socketio"].test_client(app, auth={"token": TOKEN})
    delays, seen, interrupted = [], [], 0
    try:
        if not sc.emit("subscribe", {"run_id": light_id, "since_id": 0}, callback=True)["ok"]:
            raise RuntimeError("subscribe refused")
        subscribed = time.time()  # points logged before come as a replay: not live, not counted
        procs, deadline = {light_id: light}, time.monotonic() + GUARD

        def read_stream() -> None:
            for message in sc.get_received():
                if message["name"] == "metrics" and message["args"][0]["run_id"] == light_id:
                    arrived = time.time()
                    points = message["args"][0]["points"]
                    delays.extend(arrived - wall for *_, wall in points if wall > subscribed)
                    seen.extend(point[0] for point in points)

        while light.poll() is None or heavy.poll() is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the scripts did not end within {GUARD:.0f} s")
            if len(procs) == 1:
                runs = client.get("/api/runs", headers=headers).get_json()["runs"]
                procs.update({r["id"]: heavy for r in runs if r["name"] == "heavy"})
            read_stream()
            for run_id, proc in procs.items():
                interrupted += proc.poll() is None and status(run_id) == "interrupted"
            time.sleep(0.02)
        logged = int(finish(heavy).split()[-1])
        finish(light)
        with app.extensions["lernkurve"].db.engine.connect() as conn:
            count = text("SELECT count(*) FROM metrics WHERE run_id = :id")
            stored = conn.execute(count, {"id": light_id}).scalar()
        deadline = time.monotonic() + GUARD
        while len(seen) < stored and time.monotonic() < deadline:  # the last ones on their way
            read_stream()
            time.sleep(0.02)
    finally:
        for proc in (heavy, light):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        if sc.is_connected():
            sc.disconnect()
        app.extensions["lernkurve"].shutdown()
    return {
        "delays": delays,
        "seen": len(seen),
        "stored": stored,
        "heavy": logged,
        "interrupted": interrupted,
    }


# -- report ----------------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def table(header: str) -> None:
    print(header + "\n|" + "---|" * (header.count("|") - 1))


def report_flood(store: str, rows: list[dict]) -> bool:
    from lernkurve.web.streamer import HEARTBEAT_TIMEOUT

    print(
        f"\n1. {store}: {WRITERS} scripts x {KEYS} scalars a step as fast as they go, "
        f"{SECONDS:g} s, LERNKURVE_PENDING_MB={PENDING_MB} (the worst writer of each trial)"
    )
    table("| trial | peak RSS | heartbeat age | exit after `completed` | slowest read "
          "| shown interrupted alive | completed with last point | load |")  # fmt: skip
    for i, r in enumerate(rows, 1):
        print(
            f"| {i} | {r['rss']:.0f} MB | {r['beat']:.2f} s | {r['exit']:.2f} s | "
            f"{r['read']:.3f} s | {r['interrupted']} | {r['complete']} of {WRITERS} | "
            f"{r['load']:.2f} |"
        )
    print()
    table("| figure (median over trials) | value | goal | |")
    ok = True
    for what, key, goal, unit in (
        ("peak RSS of a writer", "rss", RSS_GOAL_MB, "MB"),
        ("heartbeat age of a running run", "beat", HEARTBEAT_TIMEOUT, "s"),
        ("exit after `completed`", "exit", EXIT_GOAL, "s"),
        ("slowest read", "read", READ_GOAL, "s"),
    ):
        value = statistics.median(r[key] for r in rows)
        met = value < goal
        ok &= met
        shown = f"{value:.0f}" if unit == "MB" else f"{value:.2f}"
        print(f"| {what} | {shown} {unit} | < {goal:g} {unit} | {verdict(met)} |")
    return ok


def report_stream(store: str, rows: list[dict]) -> bool:
    print(
        f"\n2. {store}: a light run ({LIGHT_STEPS} steps x 2 scalars, {LIGHT_DELAY * 1000:g} ms "
        f"apart) beside a heavy logger ({HEAVY_STEPS:,} steps x 50 scalars): Run.log -> watcher"
    )
    table("| trial | live points | p50 | p99 | max | streamed / stored | heavy points "
          "| shown interrupted alive | load |")  # fmt: skip
    for i, r in enumerate(rows, 1):
        d = r["delays"]
        print(
            f"| {i} | {len(d)} | {statistics.median(d) * 1000:.0f} ms | "
            f"{statistics.quantiles(d, n=100)[98] * 1000:.0f} ms | {max(d) * 1000:.0f} ms | "
            f"{r['seen']} / {r['stored']} | {r['heavy']:,} | {r['interrupted']} | "
            f"{r['load']:.2f} |"
        )
    p99 = statistics.median(statistics.quantiles(r["delays"], n=100)[98] for r in rows)
    met = p99 < DELAY_P99_GOAL
    print(
        f"\n| figure (median over trials) | value | goal | |\n|---|---|---|---|\n"
        f"| p99 delay of a light point | {p99 * 1000:.0f} ms | < {DELAY_P99_GOAL * 1000:.0f} ms "
        f"| {verdict(met)} |"
    )
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="sqlite", help="sqlite and/or postgres, comma-separated")
    parser.add_argument("--trials", type=int, default=3, help="trials of each part")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    stores = [s for s in args.store.split(",") if s]

    work = tempfile.mkdtemp(prefix="lernkurve-bench-writer-load-")
    env = {**os.environ, "LERNKURVE_DATA_DIR": work}
    os.environ["LERNKURVE_DATA_DIR"] = work
    cluster = None
    if "postgres" in stores:
        sys.path.insert(0, str(ROOT / "tests"))  # the throwaway cluster the tests use
        from support import PostgresCluster

        cluster = PostgresCluster().start()
    counter = iter(range(10_000))

    def fresh(store: str) -> str:
        index = next(counter)
        if store == "sqlite":
            return f"sqlite:///{work}/bench{index}.db"
        cluster.execute(f"CREATE DATABASE bench{index}")
        return cluster.url(f"bench{index}")

    print(f"Writer load benchmark; python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    ok = True
    try:
        for store in stores:
            floods, streams = [], []
            for _ in range(args.trials):  # alternate, so load drifts hit both alike
                floods.append({**flood_trial(fresh(store), env), "load": os.getloadavg()[0]})
                streams.append(
                    {**stream_trial(fresh(store), env, work), "load": os.getloadavg()[0]}
                )
            ok &= report_flood(store, floods)
            ok &= report_stream(store, streams)
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
