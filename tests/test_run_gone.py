"""A script whose run is deleted while it is stopped: one line on stderr, and it ends normally."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import delete, select

from lernkurve.store.database import Database
from lernkurve.store.models import (
    Checkpoint,
    Command,
    Event,
    Metric,
    MetricBucket,
    RunRow,
    Snapshot,
)
from lernkurve.store.points import delete_points
from lernkurve.store.sqlite import is_locked
from support import ROOT, wait_for

SCRIPT = ROOT / "tests" / "scripts" / "paced.py"


def force_delete(db: Database, run_id: int) -> None:
    """What a forced DELETE does: the run's rows go, whatever its status."""
    with db.write(timeout=1.0) as conn:
        delete_points(conn, [run_id])
        for model in (MetricBucket, Event, Command, Checkpoint, Snapshot):
            conn.execute(delete(model).where(model.run_id == run_id))
        conn.execute(delete(RunRow).where(RunRow.id == run_id))


def delete_while_stopped(db: Database, proc: subprocess.Popen, run_id: int) -> None:
    """SIGSTOP, delete, SIGCONT; stopped inside a write, the lock stays taken: try again."""
    for _ in range(20):
        proc.send_signal(signal.SIGSTOP)
        time.sleep(0.3)
        try:
            force_delete(db, run_id)
        except Exception as exc:
            if not is_locked(exc):
                raise
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.05)
            continue
        time.sleep(0.2)
        proc.send_signal(signal.SIGCONT)
        return
    raise AssertionError("the script held the write lock every time it was stopped")


def test_a_script_whose_run_was_deleted_says_so_once_and_exits_normally(db_path, data_dir):
    env = {**os.environ, "LERNKURVE_DB": str(db_path), "LERNKURVE_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-u", str(SCRIPT), "1500", "0.002"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    db = Database(db_path)
    try:
        run_id = int(proc.stdout.readline().split()[1])
        points = select(Metric.id).where(Metric.run_id == run_id).limit(1)

        def first_point():
            with db.engine.connect() as conn:
                return conn.execute(points).first()

        wait_for(first_point)
        delete_while_stopped(db, proc, run_id)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and f"run {run_id}" in lines[0] and "deleted" in lines[0], err
        assert out.strip().endswith("ended completed")
        with db.engine.connect() as conn:  # nothing comes back for the deleted run
            assert conn.execute(select(RunRow.id).where(RunRow.id == run_id)).first() is None
        assert first_point() is None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        db.dispose()
