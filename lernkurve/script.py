"""Runs of a user's own script: created or resumed in the database, then driven by a Run."""

from __future__ import annotations

import os
import sys

from sqlalchemy import select, update

from database import Checkpoint, Command, Database, Event, now
from database import Run as RunRow
from lernkurve.run import Run

RESUMABLE = ("interrupted", "stopped", "failed")


def _script_name() -> str:
    return os.path.basename(sys.argv[0] or "") or "script"


def insert_running(
    db: Database, name: str, task: str, hparams: dict, config: dict, total_steps: int | None
) -> RunRow:
    """Insert a run already `running`: this process drives it, so no app worker claims it."""
    stamp = now()
    return db.insert_run(
        name=name,
        task=task,
        status="running",
        hparams=hparams,
        config=config,
        total_steps=total_steps,
        started_at=stamp,
        heartbeat_at=stamp,
    )


def create_script_run(
    db: Database, name: str | None, hparams: dict, schema: dict, total_steps: int | None
) -> Run:
    config = {"schema": schema, "script": _script_name(), "pid": os.getpid()}
    row = insert_running(db, name or _script_name(), "script", hparams, config, total_steps)
    return Run(db, row.id, hparams, total_steps=total_steps)


def resume_script_run(db: Database, run_id: int) -> Run:
    """Continue a stopped or interrupted run from its last checkpoint: same id, steps go on."""
    with db.Session() as session:
        row = session.get(RunRow, run_id)
        if row is None:
            raise ValueError(f"no run with id {run_id}")
        ckpt = session.scalars(
            select(Checkpoint).where(Checkpoint.run_id == run_id).order_by(Checkpoint.id.desc())
        ).first()
        if ckpt is None:
            raise ValueError(f"run {run_id} has no checkpoint to resume from")
        stamp = now()
        claimed = session.execute(
            update(RunRow)
            .where(RunRow.id == run_id, RunRow.status.in_(RESUMABLE))
            .values(status="running", ended_at=None, error=None, step=ckpt.step, heartbeat_at=stamp)
        ).rowcount
        if claimed != 1:
            raise ValueError(
                f"run {run_id} is {row.status}; only a stopped, interrupted or "
                "failed run can be resumed"
            )
        session.execute(  # what was asked of the dead process does not carry over
            update(Command)
            .where(Command.run_id == run_id, Command.applied_at.is_(None))
            .values(applied_at=stamp)
        )
        session.add(
            Event(
                run_id=run_id,
                step=ckpt.step,
                wall_time=stamp,
                kind="resume",
                payload={"checkpoint_id": ckpt.id, "from": "checkpoint"},
            )
        )
        session.commit()
        hparams, total = dict(row.hparams), row.total_steps
    run = Run(db, run_id, hparams, step=ckpt.step, total_steps=total)
    run.resume_from = ckpt.path
    return run
