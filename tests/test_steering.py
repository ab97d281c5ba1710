"""Steering a real script, asserting on what its optimizer really used at optimizer.step().

Each script runs in its own process and records, in a step pre-hook of its own, every param
group's lr and weight decay; the tests steer it only through the REST API.
"""

from __future__ import annotations

import signal
import time
from contextlib import closing

import pytest
from scripting import Scripts
from sqlalchemy import func, select

from lernkurve.store.database import Database
from lernkurve.store.models import Metric
from support import ROOT, open_sqlite, wait_for

SCRIPT = ROOT / "tests" / "scripts" / "scheduled.py"


@pytest.fixture
def script(db_path, data_dir, tmp_path):
    """Start the script against the test's database; returns (process, run id, records)."""
    with Scripts(SCRIPT, db_path, data_dir, tmp_path) as start:
        yield start


NO_DECAY_LR_SCALE = 0.5


def change(api, run_id: int, timeout: float = 20.0, **body) -> dict:
    """PATCH hparams and wait for the event that says at which step it took effect."""
    before = len(api.events(run_id, "hparams"))
    response = api.patch(f"/api/runs/{run_id}/hparams", json=body)
    assert response.status_code == 200, response.get_json()
    return wait_for(lambda: (e := api.events(run_id, "hparams"))[before:] and e[before], timeout)


def release(api, run_id: int) -> dict:
    before = len(api.events(run_id, "hparams"))
    assert api.control(run_id, "release").status_code == 202
    return wait_for(lambda: (e := api.events(run_id, "hparams"))[before:] and e[before])


def assert_lr(records: list[dict], first: int, last: int | None, expected) -> None:
    """Every step in [first, last) used expected(record) on group 0 and half of it on group 1."""
    chosen = [r for r in records if r["step"] >= first and (last is None or r["step"] < last)]
    assert chosen, f"no record in steps {first}..{last}"
    for r in chosen:
        want = expected(r)
        assert r["lrs"][0] == pytest.approx(want, rel=1e-9), r
        assert r["lrs"][1] == pytest.approx(want * NO_DECAY_LR_SCALE, rel=1e-9), r


def test_a_hand_written_schedule_is_scaled_pinned_and_released(api, script):
    proc, run_id, records = script("2000", "0.01")
    records.wait_past(10)

    scaled = change(api, run_id, lr=0.03)
    factor = scaled["payload"]["factor"]
    assert scaled["payload"]["mode"] == "scale" and scaled["payload"]["changes"]["lr"][1] == 0.03
    records.wait_past(scaled["step"] + 20)
    pinned = change(api, run_id, lr=0.02, lr_mode="override")
    assert pinned["payload"]["mode"] == "override"
    records.wait_past(pinned["step"] + 20)
    released = release(api, run_id)
    assert released["payload"]["mode"] == "release"
    used = records.wait_past(released["step"] + 20)
    assert api.control(run_id, "stop").status_code == 202
    proc.wait(20)

    assert_lr(used, 0, scaled["step"], lambda r: r["schedule"])
    assert_lr(used, scaled["step"], pinned["step"], lambda r: r["schedule"] * factor)
    assert_lr(used, pinned["step"], released["step"], lambda r: 0.02)
    # released: back to the schedule as it was scaled before the pin, as the event says
    assert released["payload"]["factor"] == factor
    assert_lr(used, released["step"], None, lambda r: r["schedule"] * factor)
    before = [r for r in used if r["step"] == scaled["step"] - 1][0]
    assert factor == pytest.approx(0.03 / before["schedule"])  # new / what it was
    lr = api.get(f"/api/runs/{run_id}/metrics?keys=lr").get_json()["series"]["lr"]
    logged = {step: value for step, value, _ in lr}
    assert all(logged[r["step"]] == pytest.approx(r["lrs"][0]) for r in used if r["step"] in logged)


@pytest.mark.parametrize("schedule", ["onecycle", "exponential"])
def test_a_torch_scheduler_given_to_watch_is_scaled_not_compounded(api, script, schedule):
    proc, run_id, records = script("600", "0.01", "--schedule", schedule)
    records.wait_past(10)
    scaled = change(api, run_id, lr=0.05)
    used = records.wait_past(scaled["step"] + 40)
    assert api.control(run_id, "stop").status_code == 202
    proc.wait(20)
    factor = scaled["payload"]["factor"]
    # a torch scheduler steps after optimizer.step(): its value for the event's step is known
    at_change = [r for r in used if r["step"] == scaled["step"]][0]
    assert factor == pytest.approx(0.05 / at_change["schedule"])
    assert_lr(used, 0, scaled["step"], lambda r: r["schedule"])
    assert_lr(used, scaled["step"], None, lambda r: r["schedule"] * factor)


def test_weight_decay_keeps_the_no_decay_group_and_resume_restores_both(api, script):
    proc, run_id, records = script("2000", "0.01", record="first.jsonl")
    records.wait_past(5)
    changed = change(api, run_id, weight_decay=0.3)
    used = records.wait_past(changed["step"] + 5)
    assert all(r["wds"] == [0.1, 0.0] for r in used if r["step"] < changed["step"])
    assert all(r["wds"] == [0.3, 0.0] for r in used if r["step"] >= changed["step"])
    lr_event = change(api, run_id, lr=0.02, lr_mode="override")
    records.wait_past(lr_event["step"] + 2)
    assert api.control(run_id, "checkpoint").status_code == 202
    checkpoint = wait_for(
        lambda: api.get(f"/api/runs/{run_id}/checkpoints").get_json()["checkpoints"]
    )
    assert api.control(run_id, "stop").status_code == 202
    assert proc.wait(20) == 0

    proc, _, resumed = script("2000", "0.01", "--resume", str(run_id), record="second.jsonl")
    again = resumed.wait_past(checkpoint[0]["step"] + 3)
    assert api.control(run_id, "stop").status_code == 202
    proc.wait(20)
    assert again[0]["step"] == checkpoint[0]["step"]
    assert all(r["wds"] == [0.3, 0.0] for r in again)
    assert_lr(again, 0, None, lambda r: 0.02)  # still pinned, as saved


def test_kill_9_then_resume_from_the_script_alone_keeps_one_value_per_step(script, db_path):
    proc, run_id, records = script("100000", "0.002", "--checkpoint-every", "20")
    records.wait_past(70)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    db = Database(db_path)
    with db.Session() as session:  # what the dead process's writer got to the database
        logged = session.scalars(select(Metric.step).where(Metric.run_id == run_id)).all()
    last = max(logged)

    proc, _, _ = script(str(last + 30), "0", "--resume", str(run_id), record="resumed.jsonl")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with db.Session() as session:
        per_step = session.execute(
            select(Metric.step, func.count())
            .where(Metric.run_id == run_id, Metric.key == "loss")
            .group_by(Metric.step)
        ).all()
        events = [e for e in _events(session, run_id) if e.kind == "resume"]
    assert {count for _, count in per_step} == {1}
    assert sorted(step for step, _ in per_step) == list(range(last + 30))
    resumed_at = events[-1].step
    # the newest checkpoint: at most one step past the last point (the kill may land between
    # its flush and the next step's)
    assert resumed_at % 20 == 0 and resumed_at <= last + 1
    removed = sum(step >= resumed_at for step in logged)  # every point of the dead process's
    assert events[-1].payload["removed_points"] == removed  # from there on, and only those
    assert events[-1].payload["removed_from_step"] == resumed_at
    db.dispose()


def _events(session, run_id: int):
    from lernkurve.store.models import Event

    return session.scalars(select(Event).where(Event.run_id == run_id).order_by(Event.id)).all()


@pytest.mark.parametrize("plain", [False, True], ids=["with", "plain"])
def test_ctrl_c_ends_the_run_as_stopped(api, script, plain):
    proc, run_id, records = script("100000", "0.005", *(["--plain"] if plain else []))
    records.wait_past(3)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    run = api.wait_status(run_id, "stopped", "failed")
    assert run["status"] == "stopped" and run["error"] is None


@pytest.mark.sqlite_only  # holds the SQLite file's write lock itself
@pytest.mark.parametrize("plain", [False, True], ids=["with", "plain"])
def test_a_second_ctrl_c_while_the_run_saves_waits_for_it(api, script, db_path, plain):
    """Pressed again because the end seems slow (or sent twice: a terminal and `timeout`
    both send one), Ctrl-C must not cut the run's last save short."""
    proc, run_id, records = script("100000", "0.005", *(["--plain"] if plain else []))
    records.wait_past(3)
    with closing(open_sqlite(db_path, isolation_level=None, timeout=10)) as hold:
        hold.execute("BEGIN IMMEDIATE")  # the run's last flush waits for this write lock
        proc.send_signal(signal.SIGINT)
        records.wait_still()  # the loop has ended: the script is saving, held by the lock
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        hold.execute("ROLLBACK")
    _, err = proc.communicate(timeout=20)
    assert "Ctrl-C again" in err

    run = api.wait_status(run_id, "stopped", "failed")
    assert run["status"] == "stopped" and run["error"] is None
    steps = [step for step, *_ in api.points(run_id, "loss")]
    assert steps == list(range(len(steps))) and run["step"] <= len(steps)
