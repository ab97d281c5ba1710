"""Four scripts logging as fast as they can into one SQLite file: real processes, no mocks.

While they run, this test does what the server's sweep does (mark_interrupted) and reads the
runs as the server's readers do. No run may look `interrupted` while its process lives, no
process may grow past its bound of unwritten points, `completed` must appear only together
with the last point, and each process must exit soon after that.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import psutil
from sqlalchemy import text

from lernkurve.store.database import Database
from lernkurve.web.streamer import HEARTBEAT_TIMEOUT, mark_interrupted
from support import ROOT

SCRIPT = ROOT / "tests" / "scripts" / "flood.py"
WRITERS = 4
SECONDS = 3.0
KEYS = 50  # scalars a log call: the loop outruns the writer many times over
PENDING_MB = 16  # the bound under test, smaller than the default to keep the test short
RSS_LIMIT_MB = 120  # ~55 MB of Python and SQLAlchemy + the bound + slack (measured: 72-74)
EXIT_AFTER_COMPLETED = 2.0


def runs_query(counted: set[int]):
    """Each run's status and, when it is newly completed, its point count: one snapshot."""
    done = ",".join(str(run_id) for run_id in counted) or "0"
    return text(
        "SELECT id, status, heartbeat_at, CASE WHEN status = 'completed' AND id NOT IN "
        f"({done}) THEN (SELECT count(*) FROM metrics WHERE metrics.run_id = runs.id) END "
        "FROM runs"
    )


def rss_mb(pid: int) -> float:
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return 0.0


class Watch:
    """What the test saw of one script while polling."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.peak_rss = 0.0
        self.max_beat_age = 0.0
        self.false_interrupted = 0
        self.completed_at: float | None = None
        self.count_when_completed: int | None = None
        self.exited_at: float | None = None
        threading.Thread(target=self._wait, daemon=True).start()

    def _wait(self) -> None:
        self.proc.wait()
        self.exited_at = time.monotonic()


def start_writers(env: dict) -> dict[int, Watch]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-u", str(SCRIPT), str(SECONDS), str(KEYS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WRITERS)
    ]
    watches = {}
    for proc in procs:
        line = proc.stdout.readline()
        assert line.startswith("run "), line + proc.stderr.read()
        watches[int(line.split()[1])] = Watch(proc)
    return watches


def poll_once(db: Database, watches: dict[int, Watch]) -> float:
    """One look as the server takes it; returns how long the read took."""
    mark_interrupted(db)
    started = time.monotonic()
    counted = {run_id for run_id, watch in watches.items() if watch.completed_at is not None}
    with db.engine.connect() as conn:
        rows = conn.execute(runs_query(counted)).all()
    read_time = time.monotonic() - started
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
    return read_time


def test_four_fast_writers_stay_alive_bounded_and_complete_with_their_last_point(db_path, data_dir):
    env = {
        **os.environ,
        "LERNKURVE_DB": str(db_path),
        "LERNKURVE_DATA_DIR": str(data_dir),
        "LERNKURVE_PENDING_MB": str(PENDING_MB),
    }
    watches = start_writers(env)
    db = Database(db_path)
    slowest_read = 0.0
    deadline = time.monotonic() + 120
    try:
        while any(w.exited_at is None for w in watches.values()):
            assert time.monotonic() < deadline, "the writers did not finish within 120 s"
            slowest_read = max(slowest_read, poll_once(db, watches))
            time.sleep(0.05)
        # A run can complete and its process exit between two looks: one more, now all is final.
        slowest_read = max(slowest_read, poll_once(db, watches))
        for watch in watches.values():
            out, err = watch.proc.communicate(timeout=10)
            assert watch.proc.returncode == 0, err[-3000:]
            logged = int(out.split()[-1])
            assert watch.false_interrupted == 0, "a live run was shown interrupted"
            assert watch.max_beat_age < HEARTBEAT_TIMEOUT, watch.max_beat_age
            assert watch.peak_rss < RSS_LIMIT_MB, f"{watch.peak_rss:.0f} MB"
            assert watch.completed_at is not None, "never completed"
            assert watch.count_when_completed == logged, "completed before its last point"
            assert watch.exited_at - watch.completed_at < EXIT_AFTER_COMPLETED
        assert slowest_read < 2.0, f"a reader waited {slowest_read:.1f} s"
    finally:
        for watch in watches.values():
            if watch.proc.poll() is None:
                watch.proc.kill()
            watch.proc.communicate()
        db.dispose()
