"""The Run API a training loop (built-in or a user's script) uses, against a real database."""

from __future__ import annotations

import math
import threading
import time

import pytest
import torch
from sqlalchemy import select

from lernkurve.store.database import Database
from lernkurve.store.models import Command, Event, Metric, RunRow
from lernkurve.tracking import client
from support import wait_for


@pytest.fixture
def db(db_path):
    return client.open_database(db_path)


def send(db: Database, run_id: int, kind: str, payload: dict | None = None) -> None:
    """What the webserver does for a PATCH or a control call: one row in commands."""
    with db.Session() as session:
        session.add(Command(run_id=run_id, kind=kind, payload=payload or {}))
        session.commit()


def rows(db: Database, model, run_id: int) -> list:
    with db.Session() as session:
        return session.scalars(select(model).where(model.run_id == run_id).order_by(model.id)).all()


def status(db: Database, run_id: int) -> str:
    with db.Session() as session:
        return session.get(RunRow, run_id).status


def test_log_accepts_keywords_a_dict_and_a_step(db):
    with client.init(name="t", config={"lr": 0.1}, db=db.url) as run:
        run.log(3, loss=1.0, acc=0.5)
        run.log({"loss": 2.0}, step=4)
        run.step = 5
        run.log(loss=torch.tensor(3.0))
        reused = {"acc": 0.1}
        run.log(reused, step=6)
        reused["acc"] = 0.2  # a loop that refills the same dict each step
        run.log(reused, step=7)
    # By step, then id: on PostgreSQL a batch's points get their ids key by key (blocks).
    ordered = sorted(rows(db, Metric, run.id), key=lambda m: (m.step, m.id))
    points = [(m.key, m.step, m.value) for m in ordered]
    assert points == [
        ("loss", 3, 1.0),
        ("acc", 3, 0.5),
        ("loss", 4, 2.0),
        ("loss", 5, 3.0),
        ("acc", 6, 0.1),
        ("acc", 7, 0.2),
    ]
    assert status(db, run.id) == "completed"


def test_a_log_call_that_is_neither_values_nor_a_step_is_refused_and_loses_nothing(db):
    import numpy as np

    with client.init(name="t", config={"lr": 0.1}, db=db.url, system_metrics=False) as run:
        run.log(np.int64(1), loss=1.0)  # a step of numpy's kind is a step
        run.log({"loss": 2.0}, step=torch.tensor(2))
        for bad in ([1.0, 2.0], "loss", 1.5):
            with pytest.raises(TypeError, match="a dict of values or a step number"):
                run.log(bad)
        with pytest.raises(TypeError, match="a dict of values or a step number"):
            run.log({"loss": 3.0}, step="3")
        run.log(4, loss=4.0)
    points = sorted((m.step, m.value) for m in rows(db, Metric, run.id))
    assert points == [(1, 1.0), (2, 2.0), (4, 4.0)]
    assert status(db, run.id) == "completed"


def test_lr_command_reaches_param_groups_at_the_recorded_step(db):
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    run = client.init(config={"lr": 0.1, "momentum": 0.9}, live=["lr", "momentum"], db=db.url)
    run.watch(model, optimizer)
    used = {}
    for step in run.steps(400):
        used[step] = optimizer.param_groups[0]["lr"]
        if step == 10:
            send(db, run.id, "hparams", {"lr": 0.02})
            wait_for(lambda: run.commands.signal)  # delivered; it applies before the next step
        if step > 10 and rows(db, Event, run.id):
            break
        time.sleep(0.002)  # a step of real work
    run.finish()
    event = rows(db, Event, run.id)[0]
    assert event.kind == "hparams" and event.payload["changes"] == {"lr": [0.1, 0.02]}
    assert event.payload["mode"] == "scale"
    assert all(lr == (0.02 if s >= event.step else 0.1) for s, lr in used.items())
    assert run.config["lr"] == 0.02


def test_nan_loss_records_diverged_and_pauses_until_resumed(db):
    run = client.init(config={"lr": 0.1}, db=db.url)

    def loop():
        for step in run.steps(10_000):
            run.log(step, loss=float("nan") if step == 3 else 1.0)
            time.sleep(0.001)  # a step of real work

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    wait_for(lambda: status(db, run.id) == "paused")
    event = rows(db, Event, run.id)[0]
    assert (event.kind, event.step, event.payload["key"]) == ("diverged", 3, "loss")
    assert math.isnan(float(event.payload["value"]))
    nan_row = [m for m in rows(db, Metric, run.id) if m.step == 3][0]
    assert nan_row.value is None  # stored as NULL, sent as null
    held = run.step
    send(db, run.id, "resume")
    wait_for(lambda: run.step > held + 10)  # a later NaN-free loss runs on, no second pause
    send(db, run.id, "stop")
    thread.join(5)
    run.finish()
    assert status(db, run.id) == "stopped"


def test_exception_in_a_with_block_marks_the_run_failed(db):
    with pytest.raises(ZeroDivisionError), client.init(config={}, db=db.url) as run:
        run.log(0, loss=1.0)
        1 / 0  # noqa: B018
    with db.Session() as session:
        row = session.get(RunRow, run.id)
    assert row.status == "failed" and row.error.startswith("ZeroDivisionError")
    error = rows(db, Event, run.id)[-1]
    assert error.kind == "error" and "1 / 0" in error.payload["traceback"]


def test_pause_blocks_between_steps_and_step_runs_exactly_one(db):
    run = client.init(config={}, db=db.url)
    done = []
    thread = threading.Thread(target=lambda: done.extend(run.steps(1_000_000)), daemon=True)
    send(db, run.id, "pause")
    thread.start()
    wait_for(lambda: status(db, run.id) == "paused")
    held = run.step
    time.sleep(0.3)  # a paused run must not move, however long it waits
    assert run.step == held
    send(db, run.id, "step")
    wait_for(lambda: run.step == held + 1)
    send(db, run.id, "stop")
    thread.join(5)
    assert run.step == held + 1 and not thread.is_alive()
    run.finish()
    assert status(db, run.id) == "stopped"


def test_a_value_that_is_not_a_number_is_dropped_without_blocking_anything(db):
    other = client.init(config={}, db=db.url)
    with client.init(config={}, db=db.url) as run:
        run.log(0, loss=None, acc=0.5)
        run.log(1, loss=2.0, **{"k" * 150: 1.0})
        other.log(0, loss=3.0)
        other.finish()
    # By step, then id: on PostgreSQL a batch's points get their ids key by key (blocks).
    ordered = sorted(rows(db, Metric, run.id), key=lambda m: (m.step, m.id))
    points = [(m.key, m.step, m.value) for m in ordered]
    assert points == [("acc", 0, 0.5), ("loss", 1, 2.0), ("k" * 100, 1, 1.0)]
    assert [(m.key, m.value) for m in rows(db, Metric, other.id)] == [("loss", 3.0)]
    assert status(db, run.id) == status(db, other.id) == "completed"


def test_commands_that_come_after_the_last_step_are_closed(db):
    run = client.init(config={}, db=db.url)
    for _ in run.steps(3):
        pass
    send(db, run.id, "pause")
    run.finish()
    assert all(c.applied_at is not None for c in rows(db, Command, run.id))


def test_a_checkpoint_that_cannot_be_written_is_noted_and_training_goes_on(db, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    run = client.init(config={}, db=db.url)
    run.checkpoint_dir = blocker  # checkpoints/run-N cannot be made inside a file
    send(db, run.id, "checkpoint")
    for step in run.steps(100_000):
        if step > 5 and rows(db, Event, run.id):
            break
        time.sleep(0.002)
    run.finish()
    note = rows(db, Event, run.id)[0]
    assert note.kind == "note" and note.payload["message"].startswith("checkpoint failed")
    assert status(db, run.id) == "completed"
