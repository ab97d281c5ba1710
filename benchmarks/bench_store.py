#!/usr/bin/env python
"""The store side by side: points/s committed into SQLite and PostgreSQL, and a long chart.

    python benchmarks/bench_store.py                       # ~2-4 min on a 2-core machine
    python benchmarks/bench_store.py --points 500000 --trials 3 --chart-points 1000000
    python benchmarks/bench_store.py --pg postgresql+psycopg://user@host/db   # a server of yours

Goals (issue 23): >= 600,000 points/s committed from one process into SQLite and >= 400,000
into PostgreSQL; the chart of a 1,000,000-point metric (GET /api/runs/<id>/metrics?
max_points=2000, min/max buckets) in <= 0.05 s; <= 16 bytes a point on SQLite.

1. Committed/s: one process logs --points points (--keys scalars a call) as fast as it can
   through `lernkurve.init`, then finish() returns once every point is committed: points /
   (first log .. finish returned). A fresh database per trial; median of --trials.
   Beside it, "alone/s": the same points through Database.insert_metrics with no training
   loop and no writer thread, in the writer's batch size: what the store itself takes.
2. Chart: one run with one key of --chart-points steps, logged the same way; then the REST
   call the page makes (Flask test client, token included) --requests times: median and max.
3. Bytes a point on SQLite: 4 keys x 100,000 steps logged as in 1, the file's size after
   VACUUM divided by the points (tables and indexes, everything in the file).
Without --pg, a throwaway PostgreSQL cluster (Debian's postgresql, as the tests start it) runs
as shipped (fsync and synchronous commit on) on a free port and is removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RATE_GOAL = {"sqlite": 600_000, "postgres": 400_000}
CHART_GOAL = 0.05
BYTES_GOAL = 16
TOKEN = "bench-token"


def log_points(url: str, steps: int, keys: int) -> tuple[int, float]:
    """Log steps x keys points as fast as possible; (run id, seconds until all committed)."""
    from lernkurve.tracking import client

    names = [f"metric{i}" for i in range(keys)]
    run = client.init(name="bench", config={}, db=url, system_metrics=False)
    started = time.perf_counter()
    for step in range(steps):
        run.log({name: step * 1e-3 + i for i, name in enumerate(names)}, step=step)
    run.finish()
    elapsed = time.perf_counter() - started
    client.open_database(url).dispose()
    return run.id, elapsed


def store_alone(url: str, points: int, keys: int) -> float:
    """Points/s of Database.insert_metrics alone (rows made beforehand, no training loop, no
    writer thread), in the writer's batch size: what the store itself takes."""
    from lernkurve.store.database import Database

    db = Database(url)
    run_id = db.insert_run(name="alone", task="script").id
    rows = [(run_id, f"metric{i % keys}", i // keys, i * 1e-3, 1.7e9 + i) for i in range(points)]
    started = time.perf_counter()
    for start in range(0, points, db.batch_points):
        with db.write() as conn:
            db.insert_metrics(conn, rows[start : start + db.batch_points])
    elapsed = time.perf_counter() - started
    db.dispose()
    return points / elapsed


def bytes_a_point(url: str, steps: int = 100_000, keys: int = 4) -> float:
    """The SQLite file's size after VACUUM, per point logged."""
    import sqlite3

    log_points(url, steps, keys)
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("VACUUM")
    return os.path.getsize(path) / (steps * keys)


def chart_times(url: str, run_id: int, requests: int, data_dir: str) -> tuple[list, int]:
    from lernkurve.launch import build_app

    app = build_app({"DATABASE": url, "TOKEN": TOKEN, "DATA_DIR": data_dir})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    times, points = [], 0
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(f"/api/runs/{run_id}/metrics?max_points=2000", headers=headers)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.get_json()
        points = len(answer.get_json()["series"]["metric0"])
    app.extensions["lernkurve"].shutdown()
    return times, points


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=500_000, help="points a throughput trial")
    parser.add_argument("--keys", type=int, default=10, help="scalars a log call")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--chart-points", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=7)
    parser.add_argument("--pg", help="a PostgreSQL URL to use (an empty database)")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a missed goal")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "tests"))  # the throwaway cluster the tests use
    from support import PostgresCluster

    work = tempfile.mkdtemp(prefix="lernkurve-bench-store-")
    os.environ["LERNKURVE_DATA_DIR"] = work
    cluster = None if args.pg else PostgresCluster(durable=True).start()
    counter = iter(range(1000))

    def fresh(store: str) -> str:
        index = next(counter)
        if store == "sqlite":
            return f"sqlite:///{work}/bench{index}.db"
        if args.pg:
            return args.pg
        name = f"bench{index}"
        cluster.execute(f"CREATE DATABASE {name}")
        return cluster.url(name)

    results, missed = {}, False
    per_point = bytes_a_point(fresh("sqlite"))
    try:
        for store in ("sqlite", "postgres"):
            rates = []
            for _ in range(args.trials):
                _, seconds = log_points(fresh(store), args.points // args.keys, args.keys)
                rates.append(args.points / seconds)
            alone = store_alone(fresh(store), args.points, args.keys)
            url = fresh(store)
            run_id, _ = log_points(url, args.chart_points, 1)
            times, shown = chart_times(url, run_id, args.requests, work)
            results[store] = (rates, alone, times, shown)
    finally:
        if cluster is not None:
            cluster.stop()

    print(
        f"\nStore benchmark: {args.points:,} points a trial ({args.keys} scalars a call), "
        f"{args.trials} trials; chart of {args.chart_points:,} points, {args.requests} requests; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"   {'store':<10} {'committed/s':>12} {'trials':>22} {'goal':>13} {'alone/s':>9}"
          f" {'chart s':>8} {'max':>6} {'points':>7} {'goal <= 0.05 s':>14}")  # fmt: skip
    for store, (rates, alone, times, shown) in results.items():
        rate, chart = statistics.median(rates), statistics.median(times)
        spread = f"{min(rates):,.0f}..{max(rates):,.0f}"
        goal = RATE_GOAL[store]
        missed |= rate < goal or chart > CHART_GOAL
        print(
            f"   {store:<10} {rate:>12,.0f} {spread:>22} {verdict(rate >= goal):>13}"
            f" {alone:>9,.0f}"
            f" {chart:>8.3f} {max(times):>6.3f} {shown:>7} {verdict(chart <= CHART_GOAL):>14}"
        )
    print(
        f"   SQLite, 4 keys x 100,000 steps after VACUUM: {per_point:.1f} bytes a point"
        f" (goal <= {BYTES_GOAL}: {verdict(per_point <= BYTES_GOAL)})"
    )
    missed |= per_point > BYTES_GOAL
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
