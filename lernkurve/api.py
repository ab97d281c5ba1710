"""The REST API (DESIGN.md): JSON in, JSON out, every input validated before anything changes."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request, stream_with_context
from sqlalchemy import delete, select, update

from database import (
    FINISHED_STATUSES,
    Checkpoint,
    Command,
    Database,
    Event,
    Metric,
    MetricBucket,
    Run,
    Snapshot,
    now,
)
from lernkurve import __version__, queries
from lernkurve.hparams import HParamError, resolve, validate
from lernkurve.taskspecs import TASKS, public_tasks, task_schema, total_steps_for

bp = Blueprint("api", __name__, url_prefix="/api")

ACTIONS = ("pause", "resume", "step", "stop", "checkpoint")
MAX_POINTS_CAP = 100_000


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", ...}}`` with its status."""

    def __init__(self, status: int, code: str, message: str, **extra) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


@bp.errorhandler(ApiError)
def _api_error(err: ApiError):
    body = {"error": {"code": err.code, "message": err.message, **err.extra}}
    return jsonify(body), err.status


def db() -> Database:
    return current_app.extensions["lernkurve"].db


def json_body() -> dict:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "invalid_json", "the body must be valid JSON")
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return data


def load_run(session, run_id: int) -> Run:
    run = session.get(Run, run_id) if run_id < 2**63 else None  # SQLite ids are 64-bit
    if run is None:
        raise ApiError(404, "not_found", f"no run with id {run_id}")
    return run


def require_live(run: Run) -> None:
    if run.status in FINISHED_STATUSES:
        raise ApiError(409, "run_finished", f"run {run.id} has ended ({run.status})")


def checked_name(name) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ApiError(400, "invalid_name", "name must be a text of 1 to 200 characters")
    return name


def checked(schema: dict, values, *, live_only: bool) -> dict:
    try:
        return validate(schema, values, live_only=live_only)
    except HParamError as err:
        raise ApiError(400, "invalid_hparams", err.message, key=err.key) from err


def int_arg(name: str, default: int | None = None, low: int = 0, high: int | None = None):
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_argument", f"{name} must be a whole number") from None
    if value < low or (high is not None and value > high):
        raise ApiError(400, "invalid_argument", f"{name} must be between {low} and {high}")
    return value


@bp.get("/health")
def health():
    return {"status": "ok", "version": __version__}


@bp.get("/tasks")
def tasks():
    return {"tasks": public_tasks()}


@bp.get("/runs")
def list_runs():
    with db().Session() as session:
        runs = session.scalars(select(Run).order_by(Run.id.desc())).all()
        return {"runs": [run.to_dict() for run in runs]}


@bp.post("/runs")
def create_run():
    body = json_body()
    unknown = set(body) - {"task", "name", "hparams"}
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field {sorted(unknown)[0]!r}")
    task = body.get("task")
    if not isinstance(task, str) or task not in TASKS:
        raise ApiError(400, "invalid_task", f"task must be one of {', '.join(TASKS)}")
    name = checked_name(body.get("name") or task)
    schema = task_schema(task)
    try:
        hparams = resolve(schema, body.get("hparams") or {})
    except HParamError as err:
        raise ApiError(400, "invalid_hparams", err.message, key=err.key) from err
    return _insert_run(name, task, hparams, {"schema": schema}), 201


def _insert_run(name: str, task: str, hparams: dict, config: dict, **fields) -> dict:
    """A queued run: the training side's worker claims it from the database."""
    total = total_steps_for(task, hparams)
    return (
        db()
        .insert_run(
            name=name,
            task=task,
            status="queued",
            hparams=hparams,
            config=config,
            total_steps=total,
            **fields,
        )
        .to_dict()
    )


@bp.get("/runs/<int:run_id>")
def get_run(run_id: int):
    with db().Session() as session:
        return load_run(session, run_id).to_dict()


@bp.patch("/runs/<int:run_id>/hparams")
def patch_hparams(run_id: int):
    body = json_body()
    with db().Session() as session:
        run = load_run(session, run_id)
        require_live(run)
        values = checked(run.config.get("schema", {}), body, live_only=True)
        if not values:
            raise ApiError(400, "invalid_hparams", "no hyperparameter given")
        session.add(Command(run_id=run_id, kind="hparams", payload=values, created_at=now()))
        session.commit()
        return {"hparams": {**run.hparams, **values}}


@bp.post("/runs/<int:run_id>/control")
def control(run_id: int):
    body = json_body()
    action = body.get("action")
    if action not in ACTIONS or set(body) != {"action"}:
        raise ApiError(400, "invalid_action", f"action must be one of {', '.join(ACTIONS)}")
    with db().Session() as session:
        run = load_run(session, run_id)
        require_live(run)
        if action == "stop" and _stop_if_queued(session, run_id):
            return {"run_id": run_id, "action": action, "status": "stopped"}, 202
        command = Command(run_id=run_id, kind=action, payload={}, created_at=now())
        session.add(command)
        session.commit()
        return {"run_id": run_id, "action": action, "command_id": command.id}, 202


def _stop_if_queued(session, run_id: int) -> bool:
    """A run no trainer has claimed yet is stopped right here; False if one already has it."""
    stamp = now()
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "queued")
        .values(status="stopped", ended_at=stamp)
    )
    if result.rowcount != 1:
        return False
    session.add(Event(run_id=run_id, step=0, wall_time=stamp, kind="stop", payload={}))
    session.commit()
    return True


@bp.get("/runs/<int:run_id>/metrics")
def metrics(run_id: int):
    with db().Session() as session:
        load_run(session, run_id)
    raw_keys = request.args.get("keys", "")
    keys = [k for k in raw_keys.split(",") if k] or None
    since_id = int_arg("since_id", 0)
    max_points = int_arg("max_points", None, low=2, high=MAX_POINTS_CAP)
    return queries.metric_series(db(), run_id, keys, since_id, max_points)


def _rows_of(model, run_id: int, **filters) -> list[dict]:
    with db().Session() as session:
        load_run(session, run_id)
        query = select(model).where(model.run_id == run_id).filter_by(**filters)
        return [row.to_dict() for row in session.scalars(query.order_by(model.id))]


@bp.get("/runs/<int:run_id>/events")
def events(run_id: int):
    return {"events": _rows_of(Event, run_id)}


@bp.get("/runs/<int:run_id>/checkpoints")
def checkpoints(run_id: int):
    return {"checkpoints": _rows_of(Checkpoint, run_id)}


@bp.get("/runs/<int:run_id>/snapshots")
def snapshots(run_id: int):
    kind = request.args.get("kind")
    rows = _rows_of(Snapshot, run_id, **({"kind": kind} if kind else {}))
    if request.args.get("latest"):
        rows = rows[-1:]
    return {"snapshots": rows}


@bp.post("/runs/<int:run_id>/fork")
def fork(run_id: int):
    body = json_body()
    unknown = set(body) - {"checkpoint_id", "name", "hparams"}
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field {sorted(unknown)[0]!r}")
    with db().Session() as session:
        parent = load_run(session, run_id)
        if parent.task not in TASKS:
            raise ApiError(409, "not_forkable", "only built-in tasks can be forked from the app")
        ckpt_id = body.get("checkpoint_id")
        if not isinstance(ckpt_id, int) or isinstance(ckpt_id, bool) or not 0 < ckpt_id < 2**63:
            raise ApiError(400, "invalid_argument", "checkpoint_id must be a checkpoint's id")
        ckpt = session.get(Checkpoint, ckpt_id)
        if ckpt is None or ckpt.run_id != run_id:
            raise ApiError(404, "not_found", f"run {run_id} has no such checkpoint")
        schema = parent.config.get("schema") or task_schema(parent.task)
        changes = checked(schema, body.get("hparams") or {}, live_only=False)
        name = checked_name(body.get("name") or f"{parent.name} (fork @ {ckpt.step})"[:200])
        config = {"schema": schema, "resume_from": ckpt.path}
        hparams = {**parent.hparams, **changes}
        child = _insert_run(
            name,
            parent.task,
            hparams,
            config,
            parent_id=run_id,
            parent_step=ckpt.step,
            step=ckpt.step,
        )
        session.add(
            Event(
                run_id=run_id,
                step=ckpt.step,
                wall_time=now(),
                kind="fork",
                payload={"child_id": child["id"], "checkpoint_id": ckpt.id},
            )
        )
        session.commit()
        return child, 201


@bp.get("/runs/<int:run_id>/export.csv")
def export_csv(run_id: int):
    with db().Session() as session:
        run = load_run(session, run_id)
        filename = f"lernkurve-run-{run.id}.csv"
    lines = stream_with_context(queries.csv_lines(db(), run_id))
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(lines, mimetype="text/csv", headers=headers)


@bp.delete("/runs/<int:run_id>")
def delete_run(run_id: int):
    with db().Session() as session:
        run = load_run(session, run_id)
        if run.status not in FINISHED_STATUSES:
            raise ApiError(409, "run_live", f"run {run_id} is still {run.status}; stop it first")
        for model in (Metric, MetricBucket, Event, Command, Checkpoint, Snapshot):
            session.execute(delete(model).where(model.run_id == run_id))
        session.delete(run)
        session.commit()
    current_app.extensions["socketio"].emit("run_deleted", {"id": run_id})
    return "", 204


def json_http_error(err):
    """Any HTTP error under /api answers JSON, never an HTML page."""
    if not request.path.startswith("/api/"):
        return err
    code = (err.name or "error").lower().replace(" ", "_")
    body = {"error": {"code": code, "message": err.description or err.name}}
    return jsonify(body), err.code


__all__ = ["bp", "json_http_error", "abort"]
