#!/usr/bin/env python
"""Moving an existing SQLite database into point blocks (migration 0010): its time, its
progress lines, and the file before and after.

    python benchmarks/bench_migrate.py                    # 10,000,000 points, ~2 min in all
    python benchmarks/bench_migrate.py --points 1000000

Goal (issue 23): a 10-million-point database migrates in <= 30 s with a progress line.

A 0009 database (a row per point) is built by the migrations alone and filled with --points
rows: --runs runs of 4 keys each, logged in turns, as a writer leaves them. Then the app
opens it (Database + the migration to head, as at start-up): the time of that open, the
progress lines it printed, and the file's size before and after VACUUM.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 30.0


def old_database(path: Path, points: int, runs: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from support import migrate_to

    migrate_to(f"sqlite:///{path}", "0009")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        ids = [
            conn.execute(
                "INSERT INTO runs (name, task, status, hparams, config, step, created_at)"
                " VALUES ('old', 'script', 'completed', '{}', '{}', 0, 1.0)"
            ).lastrowid
            for _ in range(runs)
        ]
        keys = ("train/loss", "train/acc", "val/loss", "lr")
        per_call = len(ids) * len(keys)
        rows = (
            (ids[(i // len(keys)) % len(ids)], keys[i % len(keys)], i // per_call, i * 1e-3,
             1.7e9 + i * 1e-4)
            for i in range(points)
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO metrics (run_id, key, step, value, wall_time) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        conn.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp(prefix="lernkurve-bench-migrate-")) / "old.db"
    started = time.perf_counter()
    old_database(path, args.points, args.runs)
    built = time.perf_counter() - started
    before = path.stat().st_size
    from lernkurve.store.database import Database

    said = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stderr(said):
        db = Database(path)
        with db.engine.connect() as conn:  # the first connection migrates
            conn.exec_driver_sql("SELECT 1")
    seconds = time.perf_counter() - started
    with db.engine.connect() as conn:
        count = conn.exec_driver_sql("SELECT sum(n) FROM metric_blocks").scalar()
    db.dispose()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("VACUUM")
    after = path.stat().st_size
    lines = [line for line in said.getvalue().splitlines() if "blocks" in line]
    verdict = "met" if seconds <= GOAL_SECONDS else "MISSED"
    print(f"\nMigration 0010: {args.points:,} points ({args.runs} runs x 4 keys),"
          f" built in {built:.1f} s; {os.cpu_count()} cores,"
          f" load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"   migrated in {seconds:.1f} s ({args.points / seconds:,.0f} points/s)"
          f" -> goal <= {GOAL_SECONDS:.0f} s: {verdict}")  # fmt: skip
    print(f"   points in blocks: {count:,} of {args.points:,}")
    print(f"   file: {before / 1e6:,.1f} MB -> {after / 1e6:,.1f} MB after VACUUM"
          f" ({before / args.points:.1f} -> {after / args.points:.1f} bytes a point)")  # fmt: skip
    print(f"   progress lines: {len(lines)}; first: {lines[0] if lines else '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
