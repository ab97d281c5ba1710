"""A full disk under a training script: the database on a small tmpfs, filled by another file.

Needs root (or CAP_SYS_ADMIN) to mount the tmpfs; skipped with the reason where it cannot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading

import pytest
from sqlalchemy import func, select

from lernkurve.store.database import Database
from lernkurve.store.models import Event, Metric, RunRow, now
from lernkurve.store.processes import process_identity
from support import ROOT, TOKEN, Api, wait_for

SCRIPT = ROOT / "tests" / "scripts" / "paced.py"
STEPS = 2500  # paced.py logs 2 points a step, one step every 2 ms or so


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "disk"
    folder.mkdir()
    if sys.platform != "linux" or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs Linux and mount(8)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


class Filler:
    """Another program filling the disk: takes every byte it can, again whenever one is freed."""

    def __init__(self, folder) -> None:
        self.path = folder / "filler"
        self.file = open(self.path, "wb", buffering=0)  # noqa: SIM115 - kept open until free()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def fill(self) -> None:
        for size in (1 << 16, 512):
            try:
                while True:
                    self.file.write(bytes(size))
            except OSError:
                pass

    def keep_full(self) -> None:
        def loop():
            while not self._stop.wait(0.02):
                self.fill()

        self.fill()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def free(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.file.close()
        self.path.unlink()


def start_script(
    folder, data_dir, steps: int = STEPS, progress=None, **env
) -> tuple[subprocess.Popen, int]:
    env = {
        **os.environ,
        "LERNKURVE_DB": str(folder / "lernkurve.db"),
        "LERNKURVE_DATA_DIR": str(data_dir),
        **env,
    }
    args = [sys.executable, "-u", str(SCRIPT), str(steps), "0.002"]
    proc = subprocess.Popen(
        args + ([str(progress)] if progress else []),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, int(proc.stdout.readline().split()[1])


def stored(db: Database, run_id: int) -> tuple[int, int | None, list[dict]]:
    """Points stored, the run's `pending` figure, its data_loss events."""
    with db.engine.connect() as conn:
        count = conn.execute(select(func.count()).where(Metric.run_id == run_id)).scalar()
        pending = conn.execute(select(RunRow.pending).where(RunRow.id == run_id)).scalar()
        losses = conn.execute(
            select(Event.payload).where(Event.run_id == run_id, Event.kind == "data_loss")
        ).all()
    return count, pending, [payload for (payload,) in losses]


def steps_done(progress) -> int:
    """The steps paced.py says it has done (every 50th)."""
    return int(progress.read_text() or 0) if progress.exists() else 0


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.strip().endswith("ended completed"), out
    return err


def test_within_the_bound_no_point_is_lost_and_the_waiting_points_are_shown(small_disk, data_dir):
    proc, run_id = start_script(small_disk, data_dir)
    db = Database(small_disk / "lernkurve.db")
    filler = Filler(small_disk)
    try:
        wait_for(lambda: stored(db, run_id)[0] > 100)
        filler.fill()
        # The writer frees its reserve and says how many points wait (the page's banner).
        waiting = wait_for(lambda: stored(db, run_id)[1], timeout=30)
        assert waiting > 0
        filler.free()
        err = finish(proc)
        count, pending, losses = stored(db, run_id)
        assert count == 2 * STEPS and losses == [] and pending is None
        assert "disk full" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        db.dispose()


def test_over_the_bound_the_oldest_points_go_counted_and_writing_resumes(
    small_disk, data_dir, tmp_path
):
    progress = tmp_path / "progress"  # off the full disk
    proc, run_id = start_script(small_disk, data_dir, progress=progress, LERNKURVE_PENDING_MB="0.2")
    db = Database(small_disk / "lernkurve.db")
    filler = Filler(small_disk)
    try:
        wait_for(lambda: stored(db, run_id)[0] > 100)
        filler.keep_full()
        before, full_at = stored(db, run_id)[0], steps_done(progress)
        # More steps while full than the 1,000 log calls the bound holds (however long they take)
        wait_for(lambda: steps_done(progress) > full_at + 1000 + 50, timeout=60)
        assert stored(db, run_id)[0] - before < 2 * STEPS // 2, "the disk did not stay full"
        filler.free()
        finish(proc)
        count, _, losses = stored(db, run_id)
        assert len(losses) == 1, losses
        assert losses[0]["points"] == 2 * STEPS - count > 0  # every dropped point counted
        assert losses[0]["reason"] == "disk full"
        with db.engine.connect() as conn:  # writing resumed by itself: the last step is there
            last = conn.execute(select(func.max(Metric.step)).where(Metric.run_id == run_id))
            assert last.scalar() == STEPS - 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        db.dispose()


def test_the_api_answers_507_with_the_reason_while_the_disk_is_full(small_disk, data_dir):
    from lernkurve.launch import build_app
    from lernkurve.web.app import start_app

    app = start_app(
        build_app(
            {
                "DATABASE": str(small_disk / "lernkurve.db"),
                "TOKEN": TOKEN,
                "DATA_DIR": str(data_dir),
                "START_WORKER": False,
            }
        )
    )
    api = Api(app.test_client())
    db = app.extensions["lernkurve"].db
    run = db.insert_run(  # driven by this (live) process: never swept to `interrupted`
        name="full", task="script", status="running", config=process_identity(), heartbeat_at=now()
    )
    filler = Filler(small_disk)
    try:
        filler.fill()
        answers = [api.control(run.id, "pause") for _ in range(50)]
        refused = [a for a in answers if a.status_code == 507]
        assert refused, [a.status_code for a in answers]
        assert refused[0].get_json()["error"]["code"] == "disk_full"
        assert {a.status_code for a in answers} <= {202, 507}
    finally:
        filler.free()
        app.extensions["lernkurve"].shutdown()


def test_finish_on_a_disk_that_stays_full_says_what_was_lost_and_exits_normally(
    small_disk, data_dir
):
    proc, run_id = start_script(small_disk, data_dir, steps=300)
    db = Database(small_disk / "lernkurve.db")
    filler = Filler(small_disk)
    try:
        wait_for(lambda: stored(db, run_id)[0] > 50)
        filler.keep_full()
        err = finish(proc)  # finish() waits FINISH_GRACE (10 s) for space, then gives up
        assert "could not be saved (disk full)" in err
        assert "Traceback" not in err
    finally:
        filler.free()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        db.dispose()
