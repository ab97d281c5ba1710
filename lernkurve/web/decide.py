"""Routes that help decide while a run trains: lr test, race, autopilot, recipe (docs/api.md).

A blueprint of its own beside the run routes (lernkurve.web.rest: helpers, error shapes). The
webserver only writes rows: child runs for a trial's points and a command; the run's own
process does the trial between its steps (lernkurve.tracking.trials, .autopilot, .recipes).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session

from lernkurve.shared import recipes
from lernkurve.shared.autopilot import DEFAULTS, LIMITS, merge
from lernkurve.shared.metrics import pick_metric
from lernkurve.shared.taskspecs import TASKS
from lernkurve.store.models import Command, Event, RunRow, now
from lernkurve.store.queries import metric_keys
from lernkurve.store.trialrows import trial_running
from lernkurve.web.rest import (
    ApiError,
    api_blueprint,
    checked,
    db,
    json_body,
    load_run,
    requested_by,
    require_live,
)

bp = api_blueprint("decide")

MAX_TRIAL_STEPS = 100_000
UNDO_LOOKBACK = 1000  # hparams events an undo looks back through for the autopilot's last
MAX_VARIANTS, MIN_VARIANTS = 8, 2
MODES = ("min", "max")
KEYS_NAMED = 12  # logged keys an unknown metric's message names (the answer lists them all)
KEYS_LISTED = 1000


def _number(body: dict, key: str, low: float, high: float) -> float:
    value = body.get(key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low <= value <= high:
        raise ApiError(400, "invalid_argument", f"{key} must be a number from {low:g} to {high:g}")
    return float(value)


def _whole(body: dict, key: str, low: int, high: int, default: int | None = None) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ApiError(
            400, "invalid_argument", f"{key} must be a whole number from {low} to {high}"
        )
    return value


def _only(body: dict, allowed: set[str]) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field {sorted(unknown)[0]!r}")


def _metric_arg(body: dict) -> str | None:
    metric = body.get("metric")
    if metric is not None and (not isinstance(metric, str) or not 0 < len(metric) <= 100):
        raise ApiError(400, "invalid_argument", "metric must be a metric key (1 to 100 characters)")
    return metric


def logged_metric(session, run: RunRow, wanted: str | None) -> str:
    """The metric a decision reads: ``wanted``, else the run's loss key; 400 naming the keys
    the run logs when it never logged that one (a trial or rule on it could never judge)."""
    keys = metric_keys(session.connection(), run.id)
    if not keys:
        message = f"run {run.id} has logged no metric yet; ask again once it logs its loss"
        raise ApiError(400, "no_metrics", message, keys=[])
    chosen = pick_metric(keys, wanted)
    if chosen is not None:
        return chosen
    listed = _loss_first(keys)
    named = ", ".join(listed[:KEYS_NAMED]) + (" ..." if len(listed) > KEYS_NAMED else "")
    if wanted:
        message = f"run {run.id} never logged {wanted!r}; it logs {named}"
    else:
        message = f"run {run.id} logs no key with 'loss' in its name; name the metric: {named}"
    raise ApiError(400, "unknown_metric", message, keys=listed[:KEYS_LISTED])


def _loss_first(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: ("loss" not in k, k))


def _child(session, parent: RunRow, kind: str, name: str, hparams: dict, **config) -> RunRow:
    """A queued row for a trial's points; the parent's process takes it over (task = kind, so
    no app worker ever claims it)."""
    row = RunRow(
        name=f"{parent.name} · {name}"[:200],
        task=kind,
        status="queued",
        hparams=hparams,
        config={"kind": kind, "schema": parent.config.get("schema", {}), **config},
        step=parent.step,
        parent_id=parent.id,
        parent_step=parent.step,
        created_at=now(),
        tags=[],
    )
    session.add(row)
    session.flush()
    return row


@contextmanager
def _live_run_held(run_id: int) -> Iterator[tuple[Session, RunRow]]:
    """A session whose write transaction holds the run's row until the trial's rows commit.

    The run's end closes the trial children it never started; without the hold, a run that
    ends between the check that it lives and this commit would leave them queued for good.
    SQLite: the write lock (taken first); PostgreSQL: the row's lock (FOR UPDATE).
    """
    with db().write() as conn, Session(bind=conn) as session:
        run = load_run(session, run_id, for_update=True)
        require_live(run)
        yield session, run
        session.flush()  # the write transaction commits on leaving db().write()


def require_trial_host(session, run: RunRow) -> None:
    """409 with what the script needs when the run cannot host a trial (after the body's own
    checks: a wrong body is a 400 whatever the run)."""
    reason = why_no_trial(session, run)
    if reason:
        raise ApiError(409, "cannot_host_trial", reason)


def why_no_trial(session, run: RunRow) -> str | None:
    """Why the run cannot host an lr test or race now (what its script would need); None if
    it can. The run says what it can host in its config (lernkurve.tracking.run)."""
    loop = (run.config or {}).get("loop") or {}
    if trial_running(session, run.id):
        return f"run {run.id} is already running a trial; ask again once it has ended"
    if run.task in TASKS:  # the built-in tasks watch their optimizer and loop over steps
        return None
    if run.status == "queued":
        return f"run {run.id} has not started yet; ask again once it trains"
    if (run.config or {}).get("world_size", 1) > 1:
        return "trials are not available in distributed jobs yet"
    if not loop.get("optimizer"):
        return (
            "the script watches no optimizer: a trial steers lr in the script's own steps, so "
            "it needs run.watch(model, optimizer)"
        )
    if not loop.get("boundaries"):
        return (
            "the script's loop has no step boundary Lernkurve sees: a trial runs in the steps "
            "of a loop over run.steps(n), or one that calls run.between_steps(step)"
        )
    return None


def _command(session, run_id: int, kind: str, payload: dict) -> Command:
    command = Command(run_id=run_id, kind=kind, payload=payload, created_at=now())
    session.add(command)
    return command


@bp.post("/runs/<int:run_id>/lr_test")
def lr_test(run_id: int):
    """Start an LR range test from the run's current state; 202 with the child run's id."""
    body = json_body()
    by = requested_by()
    _only(body, {"min_lr", "max_lr", "steps", "metric"})
    metric = _metric_arg(body)
    min_lr = _number(body, "min_lr", 1e-12, 1e6)
    max_lr = _number(body, "max_lr", 1e-12, 1e6)
    if max_lr <= min_lr:
        raise ApiError(400, "invalid_argument", "max_lr must be greater than min_lr")
    steps = _whole(body, "steps", 5, MAX_TRIAL_STEPS)
    with _live_run_held(run_id) as (session, run):
        _within_lr_schema(run, min_lr, max_lr)
        metric = logged_metric(session, run, metric)
        require_trial_host(session, run)
        child = _child(session, run, "lr_test", f"lr test @ {run.step}", dict(run.hparams))
        payload = {"min_lr": min_lr, "max_lr": max_lr, "steps": steps, "run_id": child.id}
        command = _command(session, run_id, "lr_test", {**payload, "metric": metric, **by})
        session.flush()
        answer = {"run_id": child.id, "command_id": command.id, "metric": metric}
    return answer, 202


@bp.post("/runs/<int:run_id>/race")
def race(run_id: int):
    """Race 2-8 variants of the live hparams from here; the run goes on with the winner."""
    body = json_body()
    by = requested_by()
    _only(body, {"variants", "steps", "metric", "mode"})
    variants = body.get("variants")
    if not isinstance(variants, list) or not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS:
        message = f"variants must be a list of {MIN_VARIANTS} to {MAX_VARIANTS} objects"
        raise ApiError(400, "invalid_argument", message)
    steps = _whole(body, "steps", 2, MAX_TRIAL_STEPS)
    metric = _metric_arg(body)
    mode = body.get("mode", "min")
    if mode not in MODES:
        raise ApiError(400, "invalid_argument", "mode must be min or max")
    with _live_run_held(run_id) as (session, run):
        schema = run.config.get("schema", {})
        variants = [_variant(schema, v) for v in variants]
        metric = logged_metric(session, run, metric)
        require_trial_host(session, run)
        children = [
            _child(session, run, "race", _label(v), {**run.hparams, **v}, variant=v, race_index=i)
            for i, v in enumerate(variants)
        ]
        run_ids = [child.id for child in children]
        payload = {"variants": variants, "steps": steps, "metric": metric, "mode": mode}
        command = _command(session, run_id, "race", {**payload, "run_ids": run_ids, **by})
        session.flush()
        answer = {"run_ids": run_ids, "command_id": command.id, "metric": metric}
    return answer, 202


def _within_lr_schema(run: RunRow, min_lr: float, max_lr: float) -> None:
    """An lr test tries only values the run's lr may take: its suggestion can be applied."""
    spec = ((run.config or {}).get("schema") or {}).get("lr") or {}
    low, high = spec.get("min"), spec.get("max")
    if (low is not None and min_lr < low) or (high is not None and max_lr > high):
        span = f"from {low} to {high}" if low is not None and high is not None else "its range"
        message = f"min_lr and max_lr must lie within the run's lr range, {span}"
        raise ApiError(400, "invalid_argument", message)


def _variant(schema: dict, values) -> dict:
    variant = checked(schema, values, live_only=True)
    if not variant:
        raise ApiError(400, "invalid_hparams", "each variant changes at least one hparam")
    return variant


def _label(variant: dict) -> str:
    return "race " + ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in variant.items()
    )


def _autopilot_changes(body: dict) -> dict:
    _only(body, {"enabled", *LIMITS})
    changes = {}
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise ApiError(400, "invalid_argument", "enabled must be true or false")
        changes["enabled"] = body["enabled"]
    for rule, fields in LIMITS.items():
        if rule not in body:
            continue
        given = body[rule]
        if not isinstance(given, dict):
            raise ApiError(400, "invalid_argument", f"{rule} must be an object")
        _only(given, set(fields))
        changes[rule] = {key: _setting(f"{rule}.{key}", given, key, fields[key]) for key in given}
    return changes


def _setting(name: str, given: dict, key: str, kind):
    value = given[key]
    if kind is bool:
        if not isinstance(value, bool):
            raise ApiError(400, "invalid_argument", f"{name} must be true or false")
        return value
    if kind is str:
        return _metric_arg({"metric": value})
    low, high = kind
    if isinstance(low, int) and isinstance(high, int):
        return _whole({name: value}, name, low, high)
    return _number({name: value}, name, low, high)


@bp.patch("/runs/<int:run_id>/autopilot")
def autopilot(run_id: int):
    """Turn the autopilot on or off, change its settings, or ``{"undo": true}`` its last action."""
    body = json_body()
    by = requested_by()
    undo = body.pop("undo", None)
    if undo is not None and undo is not True:
        raise ApiError(400, "invalid_argument", "undo must be true")
    changes = _autopilot_changes(body)
    if not changes and not undo:
        raise ApiError(400, "invalid_argument", "nothing to change")
    with db().Session() as session:
        run = load_run(session, run_id, for_update=True)  # the run merges its config too
        require_live(run)
        settings = merge(run.config.get("autopilot") or DEFAULTS, changes)
        if _judges_metric(settings, changes):
            _watch_a_logged_metric(session, run, settings)
        if changes:
            run.config = {**run.config, "autopilot": settings}
            _command(session, run_id, "autopilot", {**settings, **by})
        if undo:
            _require_something_to_undo(session, run_id)
            _command(session, run_id, "autopilot", {"undo": True, **by})
        session.commit()
        return {"autopilot": settings}


def _judges_metric(settings: dict, changes: dict) -> bool:
    """Whether this change must name a metric the run logs: it names one, or it switches the
    autopilot on."""
    named = "metric" in (changes.get("plateau") or {})
    return named or (changes.get("enabled") is True and settings["enabled"])


def _watch_a_logged_metric(session, run: RunRow, settings: dict) -> None:
    """The rules' metric must be one the run logs; none named: the run's own loss key. A run
    that has logged nothing yet picks its loss key once it logs."""
    plateau = settings["plateau"]
    if plateau.get("metric") is None and not metric_keys(session.connection(), run.id):
        return
    plateau["metric"] = logged_metric(session, run, plateau.get("metric"))


def _require_something_to_undo(session, run_id: int) -> None:
    """An undo needs an autopilot action not undone yet (nor asked to be undone already)."""
    pending = session.scalars(
        select(Command.payload).where(
            Command.run_id == run_id, Command.kind == "autopilot", Command.applied_at.is_(None)
        )
    )
    if any(isinstance(p, dict) and p.get("undo") for p in pending):
        raise ApiError(409, "nothing_to_undo", "an undo is already on its way to the run")
    actions = session.scalars(
        select(Event.payload)
        .where(Event.run_id == run_id, Event.kind == "hparams")
        .order_by(Event.id.desc())
        .limit(UNDO_LOOKBACK)
    )
    last = next((p for p in actions if isinstance(p, dict) and p.get("by") == "autopilot"), None)
    if last is None or last.get("undo"):
        raise ApiError(409, "nothing_to_undo", "the autopilot has done nothing since its last undo")


@bp.get("/runs/<int:run_id>/recipe")
def recipe(run_id: int):
    """The run's applied changes as ``{"steps": [{"step", "command"}]}``, to replay elsewhere."""
    with db().Session() as session:
        load_run(session, run_id)
        rows = session.scalars(
            select(Event).where(Event.run_id == run_id, Event.kind == "hparams").order_by(Event.id)
        )
        events = [row.to_dict() for row in rows]
    return {**recipes.from_events(events), "run_id": run_id}
