"""Runs of a user's own script: created or resumed in the database, then driven by a Run."""

from __future__ import annotations

import os
import sys

from sqlalchemy import func, select, update

from lernkurve.context import run_context
from lernkurve.db import (
    Checkpoint,
    Command,
    Database,
    Event,
    Metric,
    RunRow,
    delete_points,
    now,
    process_alive,
    process_identity,
    rebuild_buckets_from,
    steps_between,
)
from lernkurve.run import Run

RESUMABLE = ("interrupted", "stopped", "failed")
OWNED = ("running", "paused")
# A run whose owner is on another machine counts as dead after this long without a heartbeat.
# Generous on purpose: claiming a live run would make two processes write one run.
STALE_AFTER = 30.0


def _script_name() -> str:
    return os.path.basename(sys.argv[0] or "") or "script"


def owner_is_gone(row: RunRow, stamp: float) -> bool:
    """True when the process driving a running/paused run is dead (pid on this host, or silence)."""
    alive = process_alive(row.config)
    if alive is not None:
        return not alive
    return row.heartbeat_at is None or stamp - row.heartbeat_at > STALE_AFTER


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
        config={**config, **process_identity()},
        total_steps=total_steps,
        started_at=stamp,
        heartbeat_at=stamp,
    )


def create_script_run(
    db: Database,
    name: str | None,
    hparams: dict,
    schema: dict,
    total_steps: int | None,
    cls: type[Run] = Run,
    recipe: dict | None = None,
) -> Run:
    script = _script_name()
    config = {"schema": schema, "script": script, "context": run_context()}
    if recipe is not None:
        config["recipe"] = recipe  # the page draws its future changes before they happen
    name = name or default_name(db, script)
    row = insert_running(db, name, "script", hparams, config, total_steps)
    run = cls(db, row.id, hparams, total_steps=total_steps)
    run.load_recipe(recipe)
    return run


def default_name(db: Database, script: str) -> str:
    """``<script>-<n>``: train.py's third run is train-3 (not its first config value)."""
    stem = script.removesuffix(".py")
    with db.Session() as session:
        taken = session.scalar(
            select(func.count()).select_from(RunRow).where(RunRow.name.like(f"{stem}-%"))
        )
    return f"{stem}-{taken + 1}"


def resume_script_run(db: Database, run_id: int, cls: type[Run] = Run) -> Run:
    """Continue a stopped or interrupted run from its last checkpoint: same id, steps go on.

    Works with no app running: a run still marked running whose process is gone is taken
    over. Points the dead process logged after the checkpoint are removed (an event says how
    many), so every step keeps exactly one value.
    """
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
        _claim(session, row, ckpt.step, stamp)
        session.execute(  # what was asked of the dead process does not carry over
            update(Command)
            .where(Command.run_id == run_id, Command.applied_at.is_(None))
            .values(applied_at=stamp)
        )
        removed = _remove_points_after(session, run_id, ckpt.step)
        db.order_run_rows(session, [run_id])
        payload = {"checkpoint_id": ckpt.id, "from": "checkpoint", **removed}
        session.add(
            Event(run_id=run_id, step=ckpt.step, wall_time=stamp, kind="resume", payload=payload)
        )
        session.commit()
        hparams, total = dict(row.hparams), row.total_steps
        recipe = (row.config or {}).get("recipe")
    run = cls(db, run_id, hparams, step=ckpt.step, total_steps=total)
    run.resume_from = ckpt.path
    run.load_recipe(recipe)
    return run


def _claim(session, row: RunRow, step: int, stamp: float) -> None:
    """Mark the run as this process's, or raise when another process may still drive it."""
    allowed = RESUMABLE + (OWNED if owner_is_gone(row, stamp) else ())
    config = {**(row.config or {}), **process_identity()}
    unchanged = (  # nobody else claimed it since we read the row
        RunRow.heartbeat_at.is_(None)
        if row.heartbeat_at is None
        else RunRow.heartbeat_at == row.heartbeat_at
    )
    claimed = session.execute(
        update(RunRow)
        .where(RunRow.id == row.id, RunRow.status.in_(allowed), unchanged)
        .values(
            status="running",
            ended_at=None,
            error=None,
            step=step,
            heartbeat_at=stamp,
            config=config,
        )
    ).rowcount
    if claimed != 1:
        raise ValueError(
            f"run {row.id} is {row.status} and its process is still alive; only a stopped, "
            "interrupted or failed run (or one whose process is gone) can be resumed"
        )


def _remove_points_after(session, run_id: int, step: int) -> dict:
    """Delete points at or after ``step`` (the dead process's tail) and their chart buckets."""
    where = [Metric.run_id == run_id, *steps_between(session, step)]
    span = session.execute(
        select(func.count(), func.min(Metric.step), func.max(Metric.step)).where(*where)
    ).one()
    if not span[0]:
        return {"removed_points": 0}
    delete_points(session, [run_id], step)
    rebuild_buckets_from(session, run_id, step)
    return {"removed_points": span[0], "removed_from_step": span[1], "removed_to_step": span[2]}
