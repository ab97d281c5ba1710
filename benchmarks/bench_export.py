#!/usr/bin/env python
"""A whole run's CSV export through the app: its time and the server process's memory.

    python benchmarks/bench_export.py                     # 10,000,000 points, ~1 min
    python benchmarks/bench_export.py --points 1000000

Goal (issue 23): the CSV of a 10,000,000-point run streams with flat memory.

One run of 4 keys logged in turns (as a script logs them) is written into a temp SQLite
database in writer-sized batches; then GET /api/runs/<id>/export.csv is read through Flask's
test client in chunks while a thread samples this process's RSS every 10 ms. Printed: the
rows and bytes streamed, the time, and RSS before, at its peak and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KEYS = ("loss", "accuracy", "grad_norm", "lr")
BATCH_STEPS = 2_500  # steps a writer batch holds (10,000 points)
FLAT_MB = 100.0  # the peak may rise this much above the start and still count as flat


def fill(db, points: int) -> int:
    """One run holding ``points`` points (4 keys a step), written as a writer batches them."""
    from lernkurve.store.columns import columns_of

    run_id = db.insert_run(name="export", task="script", status="completed").id
    steps = points // len(KEYS)
    for start in range(0, steps, BATCH_STEPS):
        calls = [
            (s, 1e9 + s * 0.01, {key: (s % 997) / (i + 1.5) for i, key in enumerate(KEYS)})
            for s in range(start, min(steps, start + BATCH_STEPS))
        ]
        columns = columns_of(calls)
        with db.write() as conn:
            db.insert_columns(conn, run_id, columns.keys)
            db.upsert_buckets(conn, run_id, columns.buckets)
    return run_id


class RssPeak:
    """This process's resident memory, sampled in a thread until stopped: start, peak, end."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.start = self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def rss(self) -> float:
        return self.process.memory_info().rss / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.rss())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.rss()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    args = parser.parse_args(argv)
    from lernkurve.web.app import create_app

    with tempfile.TemporaryDirectory(prefix="lernkurve-bench-") as tmp:
        os.environ["LERNKURVE_DATA_DIR"] = tmp
        app = create_app({"DATABASE": str(Path(tmp) / "export.db"), "TOKEN": "t"})
        db = app.extensions["lernkurve"].db
        started = time.perf_counter()
        run_id = fill(db, args.points)
        print(f"wrote {args.points:,} points in {time.perf_counter() - started:.1f} s")
        client = app.test_client()
        headers = {"Authorization": "Bearer t"}
        memory = RssPeak()
        started = time.perf_counter()
        response = client.get(f"/api/runs/{run_id}/export.csv", headers=headers, buffered=False)
        lines = size = 0
        for chunk in response.response:
            lines += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
            size += len(chunk)
        response.close()
        elapsed = time.perf_counter() - started
        end = memory.stop()
    rise = memory.peak - memory.start
    print(
        f"CSV export of {args.points:,} points: {lines - 1:,} rows, {size / 2**20:,.0f} MB in "
        f"{elapsed:.1f} s ({(lines - 1) / elapsed:,.0f} rows/s)"
    )
    print(
        f"RSS: {memory.start:.0f} MB before, peak {memory.peak:.0f} MB (+{rise:.0f} MB), "
        f"{end:.0f} MB after -> flat (peak within +{FLAT_MB:.0f} MB): "
        f"{'MET' if rise <= FLAT_MB else 'MISSED'}; load {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
