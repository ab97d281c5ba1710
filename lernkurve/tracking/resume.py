"""Continuing a run from a checkpoint, all or nothing.

A resume is planned first (the row read, the checkpoint file loaded and checked) without a
write. Then the run is claimed: its row says `running` again, the one change that is put back
if the checkpoint's state does not fit the script (``restore``). Only once the state is in
place does ``settle`` remove what the dead process logged after the checkpoint and record the
resume. A checkpoint that cannot be loaded never costs a point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select, update

from lernkurve.store.database import Database, shown_url
from lernkurve.store.models import Checkpoint, Command, Event, Metric, RunRow, now
from lernkurve.store.points import delete_points, rebuild_buckets_from, steps_between
from lernkurve.store.processes import process_alive, process_identity

RESUMABLE = ("interrupted", "stopped", "failed")
OWNED = ("running", "paused")
# A run whose owner is on another machine counts as dead after this long without a heartbeat.
# Generous on purpose: claiming a live run would make two processes write one run.
STALE_AFTER = 30.0
CLAIM_TRIES = 3  # a claim reads the row again when the app changed it since the plan
ROW_FIELDS = (
    "status",
    "step",
    "total_steps",
    "hparams",
    "ended_at",
    "error",
    "heartbeat_at",
    "config",
)


class ResumeError(ValueError):
    """A run that cannot be continued; the message says why and that nothing was changed."""


@dataclass
class ResumePlan:
    """Where a run goes on: the step the loop runs next and the checkpoint holding the state."""

    run_id: int
    step: int
    path: str
    source: str = "checkpoint"  # or the framework whose own checkpoint it is
    checkpoint_id: int | None = None
    state: dict | None = None  # our own checkpoint's contents; None: a framework loaded its own
    before: dict = field(default_factory=dict)  # the row as it was: put back by restore()
    hparams: dict = field(default_factory=dict)
    total_steps: int | None = None
    recipe: dict | None = None
    schema: dict = field(default_factory=dict)


def owner_is_gone(row: RunRow, stamp: float) -> bool:
    """True when the process driving a running/paused run is dead (pid on this host, or silence)."""
    alive = process_alive(row.config)
    if alive is not None:
        return not alive
    return row.heartbeat_at is None or stamp - row.heartbeat_at > STALE_AFTER


def plan(db: Database, run_id: int, at: tuple[int, str, str] | None = None) -> ResumePlan:
    """Read what a resume needs and load the checkpoint; writes nothing.

    ``at``: (step, path, source) of a framework's own checkpoint, which the framework loads
    itself; otherwise the run's newest checkpoint of ours.
    """
    where = shown_url(db.url)
    with db.Session() as session:
        row = session.get(RunRow, run_id)
        if row is None:
            raise ResumeError(
                f"no run with id {run_id} in {where} (another database? pass db= or set "
                "LERNKURVE_DB)"
            )
        _check_resumable(row)
        if at is None:
            chosen = _newest_checkpoint(session, run_id, where)
        else:
            chosen = _framework_checkpoint(session, run_id, at)
        before = _row_state(row)
        config = row.config or {}
        resume = ResumePlan(run_id=run_id, **chosen, before=before, hparams=dict(row.hparams))
        resume.total_steps, resume.recipe = row.total_steps, config.get("recipe")
        resume.schema = config.get("schema") or {}
    if resume.source == "checkpoint":
        resume.state = load_checkpoint(resume)
        resume.hparams.update(resume.state.get("hparams") or {})
    return resume


def _row_state(row: RunRow) -> dict:
    """What ``restore`` puts back and a claim checks is unchanged."""
    return {name: getattr(row, name) for name in ROW_FIELDS}


def _check_resumable(row: RunRow) -> None:
    if row.status in RESUMABLE or row.status in OWNED and owner_is_gone(row, now()):
        return
    raise ResumeError(
        f"run {row.id} is {row.status} and its process is still alive; only a stopped, "
        "interrupted or failed run (or one whose process is gone) can be resumed"
    )


def _newest_checkpoint(session, run_id: int, where: str) -> dict:
    ckpt = session.scalars(
        select(Checkpoint).where(Checkpoint.run_id == run_id).order_by(Checkpoint.id.desc())
    ).first()
    if ckpt is None:
        raise ResumeError(f"run {run_id} has no checkpoint to resume from (in {where})")
    return {"step": ckpt.step, "path": ckpt.path, "checkpoint_id": ckpt.id}


def _framework_checkpoint(session, run_id: int, at: tuple[int, str, str]) -> dict:
    step, path, source = at
    known = session.scalar(
        select(Checkpoint.id).where(Checkpoint.run_id == run_id, Checkpoint.path == str(path))
    )
    return {"step": step, "path": str(path), "source": source, "checkpoint_id": known}


def load_checkpoint(resume: ResumePlan) -> dict:
    """Our checkpoint file's contents (tensors on the CPU), or ResumeError saying why not."""
    import torch  # the webserver never gets here

    try:
        # A checkpoint is data, not code: weights_only refuses anything that would run code.
        state = torch.load(resume.path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ResumeError(_refusal(resume, "its file is gone")) from None
    except Exception as exc:  # noqa: BLE001 - a torn file, a foreign format, a refused type
        raise ResumeError(_refusal(resume, _why_unloadable(exc))) from exc
    if not isinstance(state, dict) or "step" not in state:
        raise ResumeError(_refusal(resume, "it is not a Lernkurve checkpoint"))
    return state


def _why_unloadable(exc: BaseException) -> str:
    text = str(exc)
    refused = re.search(r"GLOBAL ([\w.]+) was not an allowed global", text)
    if refused:
        name = refused.group(1)
        return (
            f"it holds a {name} object, which torch loads only from a trusted file; if you "
            f"trust it, call torch.serialization.add_safe_globals([{name.rsplit('.', 1)[-1]}]) "
            "before lernkurve.init(resume=...)"
        )
    first = text.strip().splitlines()[0] if text.strip() else ""
    return (
        f"it cannot be read ({type(exc).__name__}: {first[:300]}): the file is torn or not "
        "a checkpoint"
    )


def _refusal(resume: ResumePlan, why: str) -> str:
    return (
        f"run {resume.run_id} was not resumed from its checkpoint {resume.path} (step "
        f"{resume.step}): {why}. Nothing was changed: the run and every point it logged are as "
        "they were."
    )


def refusal(resume: ResumePlan, exc: BaseException) -> str:
    """The line for a checkpoint whose state the script's model or optimizer refuses."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    why = (
        f"the script's model or optimizer does not match it ({type(exc).__name__}: {first}); "
        "give the script the model and optimizer the checkpoint was saved from, or start a "
        "new run (no resume=)"
    )
    return _refusal(resume, why)


def claim(db: Database, resume: ResumePlan) -> None:
    """Mark the run as this process's (``restore`` puts the row back), or raise when another
    process took it since the plan was made. A row the app changed meanwhile (its sweep marks
    a dead process's run `interrupted`, seconds after the kill) is read again and claimed."""
    for _ in range(CLAIM_TRIES):
        if _claimed(db, resume):
            return
        _read_again(db, resume)
    raise ResumeError(
        f"run {resume.run_id} was resumed by another process meanwhile; nothing changed"
    )


def _claimed(db: Database, resume: ResumePlan) -> bool:
    """Whether the run was this process's to take (its row as the plan read it) and is now."""
    before = resume.before
    unchanged = (
        RunRow.heartbeat_at.is_(None)
        if before["heartbeat_at"] is None
        else RunRow.heartbeat_at == before["heartbeat_at"]
    )
    stamp = now()
    values = {"status": "running", "ended_at": None, "error": None, "step": resume.step}
    values.update(heartbeat_at=stamp, config={**(before["config"] or {}), **process_identity()})
    with db.Session() as session:
        claimed = session.execute(
            update(RunRow)
            .where(RunRow.id == resume.run_id, RunRow.status == before["status"], unchanged)
            .values(**values)
        ).rowcount
        if claimed != 1:
            return False
        session.execute(  # what was asked of the dead process does not carry over
            update(Command)
            .where(Command.run_id == resume.run_id, Command.applied_at.is_(None))
            .values(applied_at=stamp)
        )
        session.commit()
    return True


def _read_again(db: Database, resume: ResumePlan) -> None:
    """The row as it is now, for the next try; ResumeError when it can no longer be resumed
    (another process has taken it, or it was deleted)."""
    with db.Session() as session:
        row = session.get(RunRow, resume.run_id)
        if row is None:
            raise ResumeError(f"run {resume.run_id} was deleted meanwhile; nothing changed")
        _check_resumable(row)
        resume.before = _row_state(row)


def restore(db: Database, resume: ResumePlan) -> None:
    """Put the run's row back as it was before the claim (the state did not fit)."""
    with db.Session() as session:
        session.execute(update(RunRow).where(RunRow.id == resume.run_id).values(**resume.before))
        session.commit()


def settle(db: Database, resume: ResumePlan) -> None:
    """The state is in place: remove the dead process's points from the resume step on (an
    event says how many) so every step keeps exactly one value, and record the resume."""
    with db.Session() as session:
        removed = _remove_points_after(session, resume.run_id, resume.step)
        payload = {"from": resume.source, "path": resume.path, **removed}
        if resume.checkpoint_id is not None:
            payload["checkpoint_id"] = resume.checkpoint_id
        event = Event(
            run_id=resume.run_id, step=resume.step, wall_time=now(), kind="resume", payload=payload
        )
        db.order_run_rows(session, [resume.run_id])
        session.add(event)
        session.commit()


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
