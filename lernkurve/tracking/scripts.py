"""Runs of a user's own script: created or resumed in the database, then driven by a Run."""

from __future__ import annotations

import os
import sys

from sqlalchemy import func, select

from lernkurve.store.database import Database
from lernkurve.store.models import RunRow, now
from lernkurve.store.processes import process_identity
from lernkurve.tracking import resume
from lernkurve.tracking.context import run_context
from lernkurve.tracking.run import Run


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
    run.schema = schema
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


def resume_script_run(
    db: Database, run_id: int, cls: type[Run] = Run, at: tuple[int, str, str] | None = None
) -> Run:
    """Continue a stopped or interrupted run from its last checkpoint: same id, steps go on.

    All or nothing (lernkurve.tracking.resume): the checkpoint is loaded before anything is written,
    and the points the dead process logged after it are removed only once its state is in
    place (at ``watch()``, or the first step). Works with no app running: a run still marked
    running whose process is gone is taken over. ``at``: a framework's own checkpoint,
    (step, path, framework), which the framework has loaded itself.
    """
    plan = resume.plan(db, run_id, at)
    resume.claim(db, plan)
    run = cls(db, run_id, plan.hparams, step=plan.step, total_steps=plan.total_steps)
    run.schema = plan.schema
    run.begin_resume(plan)
    run.load_recipe(plan.recipe)
    return run
