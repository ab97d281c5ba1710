"""Four scripts logging as fast as they can into one SQLite file: real processes, no mocks.

While they run, this test does what the server's sweep does (mark_interrupted) and reads the
runs as the server's readers do. No run may look `interrupted` while its process lives,
`completed` must appear only together with the last point, and every process must exit 0.
How much memory the writers take, how old a heartbeat gets, how soon a process exits after
`completed` and how long a reader waits: benchmarks/bench_writer_load.py, which runs the same
four writers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from sqlalchemy import text

from lernkurve.store.database import Database
from lernkurve.web.streamer import mark_interrupted
from support import ROOT

SCRIPT = ROOT / "tests" / "scripts" / "flood.py"
WRITERS = 4
SECONDS = 3.0
KEYS = 50  # scalars a log call: the loop outruns the writer many times over
PENDING_MB = 16  # the bound on unwritten points, smaller than the default to keep it short
HANG_GUARD = 120  # seconds for all four (they log for 3 s): catches a hang, not a speed


def runs_query(counted: set[int]):
    """Each run's status and, when it is newly completed, its point count: one snapshot."""
    done = ",".join(str(run_id) for run_id in counted) or "0"
    return text(
        "SELECT id, status, CASE WHEN status = 'completed' AND id NOT IN "
        f"({done}) THEN (SELECT count(*) FROM metrics WHERE metrics.run_id = runs.id) END "
        "FROM runs"
    )


class Watch:
    """What the test saw of one script while polling."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.false_interrupted = 0
        self.completed = False
        self.count_when_completed: int | None = None
        self.exited = threading.Event()
        threading.Thread(target=self._wait, daemon=True).start()

    def _wait(self) -> None:
        self.proc.wait()
        self.exited.set()


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


def poll_once(db: Database, watches: dict[int, Watch]) -> None:
    """One look as the server takes it."""
    mark_interrupted(db)
    counted = {run_id for run_id, watch in watches.items() if watch.completed}
    alive = {run_id for run_id, watch in watches.items() if not watch.exited.is_set()}
    with db.engine.connect() as conn:
        rows = conn.execute(runs_query(counted)).all()
    for run_id, status, count in rows:
        watch = watches[run_id]
        # `alive` was taken before the read: a process that lived then lived during it too
        watch.false_interrupted += run_id in alive and status == "interrupted"
        if status == "completed" and not watch.completed:
            watch.completed, watch.count_when_completed = True, count


def test_four_fast_writers_stay_alive_and_complete_with_their_last_point(db_path, data_dir):
    env = {
        **os.environ,
        "LERNKURVE_DB": str(db_path),
        "LERNKURVE_DATA_DIR": str(data_dir),
        "LERNKURVE_PENDING_MB": str(PENDING_MB),
    }
    watches = start_writers(env)
    db = Database(db_path)
    deadline = time.monotonic() + HANG_GUARD
    try:
        while not all(w.exited.is_set() for w in watches.values()):
            assert time.monotonic() < deadline, f"the writers did not finish in {HANG_GUARD} s"
            poll_once(db, watches)
            time.sleep(0.05)
        # A run can complete and its process exit between two looks: one more, now all is final.
        poll_once(db, watches)
        for watch in watches.values():
            out, err = watch.proc.communicate(timeout=30)
            assert watch.proc.returncode == 0, err[-3000:]
            logged = int(out.split()[-1])
            assert watch.false_interrupted == 0, "a live run was shown interrupted"
            assert watch.completed, "never completed"
            assert watch.count_when_completed == logged, "completed before its last point"
    finally:
        for watch in watches.values():
            if watch.proc.poll() is None:
                watch.proc.kill()
            watch.proc.communicate()
        db.dispose()
