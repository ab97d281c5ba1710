"""REST routes that steer a live run: hparam changes and control actions, stored as commands
the run's own process reads (docs/api.md)."""

from __future__ import annotations

from sqlalchemy import select, update

from lernkurve.shared.hparams import HParamError, validate_changes
from lernkurve.store.models import Command, Event, RunRow, Snapshot, now
from lernkurve.store.trialrows import trial_running
from lernkurve.web.rest import (
    ApiError,
    api_blueprint,
    db,
    json_body,
    load_run,
    requested_by,
    require_live,
)

bp = api_blueprint("steer")

ACTIONS = ("pause", "resume", "step", "stop", "checkpoint", "release")


LR_MODES = ("scale", "override")
AT_ONCE = ("pause", "resume", "step", "stop")  # what acts at once even while a trial runs


@bp.patch("/runs/<int:run_id>/hparams")
def patch_hparams(run_id: int):
    body = json_body()
    by = requested_by()
    lr_mode = body.pop("lr_mode", "scale")
    if lr_mode not in LR_MODES:
        raise ApiError(400, "invalid_lr_mode", f"lr_mode must be one of {', '.join(LR_MODES)}")
    with db().Session() as session:
        run = load_run(session, run_id)
        require_live(run)
        try:
            values = validate_changes(run.config.get("schema", {}), run.hparams, body)
        except HParamError as err:
            raise ApiError(400, "invalid_hparams", err.message, key=err.key) from err
        if not values:
            raise ApiError(400, "invalid_hparams", "no hyperparameter given")
        if lr_mode == "override" and isinstance(values.get("lr"), dict):
            raise ApiError(400, "invalid_lr_mode", "a factor scales lr; override pins a value")
        payload = {**values, "lr_mode": lr_mode, **by}
        session.add(Command(run_id=run_id, kind="hparams", payload=payload, created_at=now()))
        waits = waits_for_trial(session, run_id)
        session.commit()
        answer = {"hparams": {**run.hparams, **_expected(run.hparams, values)}}
        return ({**answer, "deferred": waits}, 202) if waits else answer


def waits_for_trial(session, run_id: int) -> str | None:
    """Why a command waits (a trial runs in the run's steps), or None when it applies at the
    next step. What waits is carried out when the trial ends; if the run ends first, an event
    says it was not."""
    if not trial_running(session, run_id):
        return None
    return (
        "a trial (lr test or race) is running: this is carried out when it ends, or, should "
        "the run end first, not at all (an event on the run will say so)"
    )


def _expected(current: dict, values: dict) -> dict:
    """What the changes give as the run stands now (a factor lands on the value it finds)."""
    return {k: current[k] * v["scale"] if isinstance(v, dict) else v for k, v in values.items()}


@bp.post("/runs/<int:run_id>/control")
def control(run_id: int):
    body = json_body()
    by = requested_by()
    action = body.get("action")
    if action not in ACTIONS or set(body) != {"action"}:
        raise ApiError(400, "invalid_action", f"action must be one of {', '.join(ACTIONS)}")
    with db().Session() as session:
        run = load_run(session, run_id)
        require_live(run)
        if action == "stop" and _stop_if_queued(session, run_id, by):
            return {"run_id": run_id, "action": action, "status": "stopped"}, 202
        if action == "release":
            _require_pinned_lr(session, run)
        command = Command(run_id=run_id, kind=action, payload=by, created_at=now())
        session.add(command)
        waits = waits_for_trial(session, run_id) if action not in AT_ONCE else None
        session.commit()
        answer = {"run_id": run_id, "action": action, "command_id": command.id}
        return ({**answer, "deferred": waits} if waits else answer), 202


def _require_pinned_lr(session, run: RunRow) -> None:
    """A release hands a pinned lr back to its schedule: refuse one that would do nothing."""
    if _pin_on_its_way(session, run.id):
        return
    snapshot = session.scalars(
        select(Snapshot)
        .where(Snapshot.run_id == run.id, Snapshot.kind == "optimizer")
        .order_by(Snapshot.id.desc())
        .limit(1)
    ).first()
    reason = _why_nothing_to_release(run, snapshot.payload if snapshot else None)
    if reason:
        raise ApiError(409, "nothing_to_release", reason)


def _pin_on_its_way(session, run_id: int) -> bool:
    """An override of lr the run has not applied yet: a release right after it is meant."""
    pending = session.scalars(
        select(Command.payload).where(
            Command.run_id == run_id, Command.kind == "hparams", Command.applied_at.is_(None)
        )
    )
    return any(
        isinstance(p, dict) and p.get("lr_mode") == "override" and "lr" in p for p in pending
    )


def _why_nothing_to_release(run: RunRow, optimizer: dict | None) -> str | None:
    """Why lr is not pinned, from the run's latest optimizer snapshot; None if it is."""
    if optimizer is None:
        if run.status == "queued":
            return f"run {run.id} has not started yet: lr is not pinned, nothing to release"
        return (
            f"run {run.id} watches no optimizer (run.watch(model, optimizer) in its script), "
            "so lr is not pinned and there is nothing to release"
        )
    if optimizer.get("lr_mode") == "override":
        return None
    factor = optimizer.get("lr_factor")
    scaled = isinstance(factor, int | float) and factor != 1
    if optimizer.get("scheduled"):
        follows = "the schedule" + (f" ×{factor:.4g}" if scaled else "")
    else:
        follows = "the value it was given"
    return (
        f"lr is not pinned: it follows {follows}, so there is nothing to release; "
        "send a new value or a factor to change it"
    )


def _stop_if_queued(session, run_id: int, by: dict) -> bool:
    """A run no trainer has claimed yet is stopped right here; False if one already has it."""
    stamp = now()
    result = session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status == "queued")
        .values(status="stopped", ended_at=stamp)
    )
    if result.rowcount != 1:
        return False
    db().order_run_rows(session, [run_id])
    session.add(Event(run_id=run_id, step=0, wall_time=stamp, kind="stop", payload=by))
    session.commit()
    return True
