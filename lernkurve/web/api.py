"""The REST API (DESIGN.md): JSON in, JSON out, every input validated before anything changes."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, jsonify, request, stream_with_context
from sqlalchemy import delete, select, update
from sqlalchemy.exc import OperationalError

from lernkurve import __version__
from lernkurve.shared import recipes
from lernkurve.shared.hparams import HParamError, resolve, validate, validate_changes
from lernkurve.shared.taskspecs import TASKS, public_tasks, task_schema, total_steps_for
from lernkurve.store import impact, queries
from lernkurve.store.database import Database
from lernkurve.store.models import (
    FINISHED_STATUSES,
    LIVE_STATUSES,
    Checkpoint,
    Command,
    Event,
    MetricBucket,
    RunRow,
    Snapshot,
    now,
)
from lernkurve.store.points import delete_points
from lernkurve.store.processes import process_alive
from lernkurve.store.sqlite import is_disk_full, is_locked
from lernkurve.store.summaries import run_summaries

bp = Blueprint("api", __name__, url_prefix="/api")

ACTIONS = ("pause", "resume", "step", "stop", "checkpoint", "release")
LR_MODES = ("scale", "override")
MAX_POINTS_CAP = 100_000
MAX_ID = 2**63 - 1  # SQLite integers are 64-bit signed
MAX_KEYS = 64  # metric keys one history request may name (the page names none)
MAX_KEY_LENGTH = 100  # metrics.key is VARCHAR(100)
# An `interrupted` run whose heartbeat is younger than this may belong to a process that is
# only stopped (SIGSTOP, a debugger, a long evaluation): deleting it would lose its points.
RECENT_HEARTBEAT = 60.0


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", ...}}`` with its status."""

    def __init__(self, status: int, code: str, message: str, **extra) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


@bp.errorhandler(ApiError)
def _api_error(err: ApiError):
    body = {"error": {"code": err.code, "message": err.message, **err.extra}}
    return jsonify(body), err.status


@bp.errorhandler(OperationalError)
def _database_refused(err: OperationalError):
    """A full disk answers 507, a write lock held past the busy timeout 503 (try again);
    any other database failure stays a 500."""
    if is_disk_full(err):
        message = "disk full: the database cannot grow; free some space and try again"
        return jsonify({"error": {"code": "disk_full", "message": message}}), 507
    if is_locked(err):
        message = "the database is busy (another process holds its write lock); try again"
        body = {"error": {"code": "database_busy", "message": message}}
        return jsonify(body), 503, {"Retry-After": "1"}
    raise err


def db() -> Database:
    return current_app.extensions["lernkurve"].db


def json_body() -> dict:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested thousands deep: not a body any client of ours sends
        data = None
    if data is None:
        raise ApiError(400, "invalid_json", "the body must be valid JSON")
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return data


def load_run(session, run_id: int, for_update: bool = False) -> RunRow:
    """The run's row, or a 404; ``for_update`` locks it until the transaction ends."""
    run = session.get(RunRow, run_id, with_for_update=for_update) if run_id <= MAX_ID else None
    if run is None:
        raise ApiError(404, "not_found", f"no run with id {run_id}")
    return run


def require_live(run: RunRow) -> None:
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
    """All runs, newest first; ``?tag=`` filters, ``?metric=&mode=min|max`` adds summaries."""
    tag = text_arg("tag", MAX_TAG)
    metric = text_arg("metric", 100)
    mode = request.args.get("mode", "min")
    if mode not in ("min", "max"):
        raise ApiError(400, "invalid_argument", "mode must be min or max")
    with db().Session() as session:
        runs = [run.to_dict() for run in session.scalars(select(RunRow).order_by(RunRow.id.desc()))]
    if tag:
        runs = [run for run in runs if tag in (run["tags"] or [])]
    if metric:
        found = run_summaries(db(), [run["id"] for run in runs], metric, mode)
        for run in runs:
            run["summary"] = found.get(run["id"])
    return {"runs": runs}


def text_arg(name: str, longest: int) -> str | None:
    value = request.args.get(name) or None
    if value is not None and len(value) > longest:
        raise ApiError(400, "invalid_argument", f"{name} must be at most {longest} characters")
    return value


MAX_TAG, MAX_TAGS, MAX_NOTES = 40, 20, 20_000


@bp.patch("/runs/<int:run_id>")
def annotate_run(run_id: int):
    """Rename a run, set its tags or its Markdown note (any run, live or finished)."""
    body = json_body()
    unknown = set(body) - {"name", "tags", "notes"}
    if unknown or not body:
        raise ApiError(400, "invalid_field", "give name, tags and/or notes")
    changes = {}
    if "name" in body:
        changes["name"] = checked_name(body["name"])
    if "tags" in body:
        changes["tags"] = checked_tags(body["tags"])
    if "notes" in body:
        notes = body["notes"]
        if not isinstance(notes, str) or len(notes) > MAX_NOTES:
            raise ApiError(400, "invalid_notes", f"notes must be a text of at most {MAX_NOTES}")
        changes["notes"] = notes
    with db().Session() as session:
        run = load_run(session, run_id)
        for key, value in changes.items():
            setattr(run, key, value)
        session.commit()
        row = run.to_dict()
    # Finished runs are not in the streamer's change sweep: tell every open page here.
    current_app.extensions["socketio"].emit("run", row)
    return row


def checked_tags(tags) -> list[str]:
    """Up to MAX_TAGS distinct, stripped texts of 1 to MAX_TAG characters, in the given order."""
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise ApiError(400, "invalid_tags", f"tags must be a list of at most {MAX_TAGS} texts")
    clean = []
    for tag in tags:
        if not isinstance(tag, str) or not 0 < len(tag.strip()) <= MAX_TAG:
            raise ApiError(400, "invalid_tags", f"a tag is a text of 1 to {MAX_TAG} characters")
        if tag.strip() not in clean:
            clean.append(tag.strip())
    return clean


@bp.post("/runs")
def create_run():
    body = json_body()
    unknown = set(body) - {"task", "name", "hparams", "recipe"}
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
    config = {"schema": schema}
    if body.get("recipe") is not None:
        config["recipe"] = checked_recipe(schema, body["recipe"])
    return _insert_run(name, task, hparams, config), 201


def checked_recipe(schema: dict, recipe) -> dict:
    """A recipe whose every change this task accepts live (lernkurve.shared.recipes)."""
    try:
        return recipes.checked(recipe, schema)
    except recipes.RecipeError as err:
        raise ApiError(400, "invalid_recipe", str(err)) from err


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
        payload = {**values, "lr_mode": lr_mode}
        session.add(Command(run_id=run_id, kind="hparams", payload=payload, created_at=now()))
        session.commit()
        return {"hparams": {**run.hparams, **_expected(run.hparams, values)}}


def _expected(current: dict, values: dict) -> dict:
    """What the changes give as the run stands now (a factor lands on the value it finds)."""
    return {k: current[k] * v["scale"] if isinstance(v, dict) else v for k, v in values.items()}


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
        if action == "release":
            _require_pinned_lr(session, run)
        command = Command(run_id=run_id, kind=action, payload={}, created_at=now())
        session.add(command)
        session.commit()
        return {"run_id": run_id, "action": action, "command_id": command.id}, 202


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


def _stop_if_queued(session, run_id: int) -> bool:
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
    session.add(Event(run_id=run_id, step=0, wall_time=stamp, kind="stop", payload={}))
    session.commit()
    return True


@bp.get("/runs/<int:run_id>/metrics")
def metrics(run_id: int):
    with db().Session() as session:
        load_run(session, run_id)
    keys = metric_keys_arg()
    since_id = int_arg("since_id", 0, high=MAX_ID)
    max_points = int_arg("max_points", None, low=2, high=MAX_POINTS_CAP)
    return queries.metric_series(db(), run_id, keys, since_id, max_points)


def metric_keys_arg() -> list[str] | None:
    """``keys=a,b``: at most MAX_KEYS distinct names of at most MAX_KEY_LENGTH characters."""
    keys = list(dict.fromkeys(k for k in request.args.get("keys", "").split(",") if k))
    if len(keys) > MAX_KEYS:
        raise ApiError(400, "invalid_argument", f"keys may name at most {MAX_KEYS} metrics")
    if any(len(key) > MAX_KEY_LENGTH for key in keys):
        raise ApiError(400, "invalid_argument", f"a key has at most {MAX_KEY_LENGTH} characters")
    return keys or None


def _rows_of(model, run_id: int, latest: bool = False, **filters) -> list[dict]:
    """The run's rows in id order; ``latest``: only the newest (one index seek, not a scan)."""
    with db().Session() as session:
        load_run(session, run_id)
        query = select(model).where(model.run_id == run_id).filter_by(**filters)
        query = query.order_by(model.id.desc()).limit(1) if latest else query.order_by(model.id)
        return [row.to_dict() for row in session.scalars(query)]


@bp.get("/runs/<int:run_id>/events")
def events(run_id: int):
    """The run's events; each hparams event with its measured ``impact`` once there is one."""
    return {"events": impact.annotate(db(), run_id, _rows_of(Event, run_id))}


@bp.get("/runs/<int:run_id>/checkpoints")
def checkpoints(run_id: int):
    """The run's checkpoints, each with its size on disk and why it is still needed, if it is."""
    rows = _rows_of(Checkpoint, run_id)
    with db().Session() as session:
        in_use = _checkpoints_in_use(session)
    for row in rows:
        row["size_bytes"] = disk_size(row["path"])
        row["in_use"] = in_use.get(row["path"])
    total = sum(row["size_bytes"] for row in rows if row["size_bytes"] is not None)
    return {"checkpoints": rows, "total_bytes": total}


@bp.delete("/runs/<int:run_id>/checkpoints/<int:checkpoint_id>")
def delete_checkpoint(run_id: int, checkpoint_id: int):
    """Remove one checkpoint: its file (a Hugging Face folder: all of it), then its row."""
    with db().Session() as session:
        load_run(session, run_id)
        ckpt = session.get(Checkpoint, checkpoint_id) if checkpoint_id <= MAX_ID else None
        if ckpt is None or ckpt.run_id != run_id:
            raise ApiError(404, "not_found", f"run {run_id} has no checkpoint {checkpoint_id}")
        reason = _checkpoints_in_use(session).get(ckpt.path)
        if reason:
            raise ApiError(409, "checkpoint_in_use", reason)
        # The file first: if it cannot go, the row stays and the page can ask again.
        remove_checkpoint_path(ckpt.path)
        session.delete(ckpt)
        session.commit()
    current_app.extensions["socketio"].emit("checkpoints_changed", {"run_id": run_id})
    return "", 204


def _checkpoints_in_use(session) -> dict[str, str]:
    """Checkpoint paths a live fork starts from, each with the reason in words."""
    rows = session.execute(
        select(RunRow.id, RunRow.status, RunRow.config)
        .where(RunRow.status.in_(LIVE_STATUSES))
        .order_by(RunRow.id.desc())  # the oldest fork is named
    ).all()
    return {
        config["resume_from"]: f"run {run_id} ({status}) is a fork that starts from this checkpoint"
        for run_id, status, config in rows
        if isinstance(config, dict) and config.get("resume_from")
    }


def disk_size(path: str) -> int | None:
    """A checkpoint's bytes on disk: its file, or all files of its folder; None if not here."""
    where = Path(path)
    if not path or not where.is_absolute():
        return None  # relative to some script's folder, not to ours
    try:
        if not where.is_dir():
            return where.stat().st_size
    except OSError:
        return None
    total = 0
    for folder, _, files in os.walk(where):
        for name in files:
            with contextlib.suppress(OSError):  # removed while we count
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


CHECKPOINT_FOLDER = re.compile(r"checkpoint|\.ckpt$", re.IGNORECASE)


def remove_checkpoint_path(path: str) -> None:
    """Delete a checkpoint's file, or its folder when the folder is named as one (Hugging Face's
    ``checkpoint-N``, Lightning's ``*.ckpt``); a file already gone is fine."""
    where = Path(path)
    if not path or not where.is_absolute():
        return  # not ours to find: the row goes, nothing on disk is touched
    try:
        if where.is_dir() and not where.is_symlink():
            if not CHECKPOINT_FOLDER.search(where.name):
                raise ApiError(
                    409,
                    "not_a_checkpoint_folder",
                    f"{path} is a folder whose name does not say checkpoint; remove it yourself",
                )
            shutil.rmtree(where)
        else:
            where.unlink(missing_ok=True)
    except OSError as err:
        raise ApiError(409, "checkpoint_not_removed", f"could not remove {path}: {err}") from err


@bp.get("/runs/<int:run_id>/snapshots")
def snapshots(run_id: int):
    kind = request.args.get("kind")
    latest = bool(request.args.get("latest"))
    return {"snapshots": _rows_of(Snapshot, run_id, latest, **({"kind": kind} if kind else {}))}


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
        if not Path(ckpt.path).is_file():
            raise ApiError(410, "checkpoint_gone", f"checkpoint {ckpt.id}'s file is gone")
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
        db().order_run_rows(session, [run_id])  # the parent may be writing events now
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
    """Remove a run, its rows and its checkpoint files; ``?force=1`` even if it may live."""
    force = flag_arg("force")
    with db().Session() as session:
        run = load_run(session, run_id)
        reason = why_process_may_live(run)
        if reason and not force:
            raise ApiError(409, "run_may_live", reason, run_status=run.status)
        paths = session.scalars(select(Checkpoint.path).where(Checkpoint.run_id == run_id)).all()
        for model in (MetricBucket, Event, Command, Checkpoint, Snapshot):
            session.execute(delete(model).where(model.run_id == run_id))
        session.delete(run)
        session.flush()  # waits for a batch of the run being written now, which then fails
        # After the row: PostgreSQL has no foreign key from metrics (speed), and this also
        # reads the points of a batch that committed while the row was being deleted.
        delete_points(session, [run_id])
        session.commit()
        still_needed = _checkpoints_other_runs_resume_from(session)
    remove_checkpoint_files(run_id, set(paths) - still_needed)
    current_app.extensions["socketio"].emit("run_deleted", {"id": run_id})
    return "", 204


def flag_arg(name: str) -> bool:
    raw = request.args.get(name)
    if raw not in (None, "", "0", "1"):
        raise ApiError(400, "invalid_argument", f"{name} must be 0 or 1")
    return raw == "1"


def why_process_may_live(run: RunRow) -> str | None:
    """Why deleting the run could pull the rows from under a process still writing them.

    An `interrupted` run's process is asked about by pid where the run names one on this
    host; elsewhere a heartbeat younger than RECENT_HEARTBEAT counts as "may live".
    """
    if run.status in LIVE_STATUSES:
        return f"run {run.id} is still {run.status}; stop it first"
    if run.status != "interrupted":
        return None
    alive = process_alive(run.config)
    if alive:
        return (
            f"run {run.id}'s process (pid {run.config['pid']}) still exists; it may only be "
            "paused (a debugger, SIGSTOP) and would lose every point it logs"
        )
    age = now() - run.heartbeat_at if run.heartbeat_at else None
    if alive is None and age is not None and age < RECENT_HEARTBEAT:
        return (
            f"run {run.id} last signalled {age:.0f} s ago; its process may only be paused "
            "(a debugger, a long evaluation) and would lose every point it logs"
        )
    return None


def _checkpoints_other_runs_resume_from(session) -> set[str]:
    """Files a fork still starts from (its config names the parent's checkpoint)."""
    configs = session.scalars(select(RunRow.config)).all()
    return {c["resume_from"] for c in configs if isinstance(c, dict) and c.get("resume_from")}


def remove_checkpoint_files(run_id: int, paths: set[str]) -> None:
    """Delete the files and the run's own folder once empty; a file already gone is fine."""
    for path in map(Path, paths):
        try:
            path.unlink(missing_ok=True)
            if path.parent.name == f"run-{run_id}":
                path.parent.rmdir()
        except OSError:  # not empty, or not ours to remove: the rows are gone either way
            pass


def json_http_error(err):
    """Any HTTP error under /api answers JSON, never an HTML page."""
    if not request.path.startswith("/api/"):
        return err
    code = (err.name or "error").lower().replace(" ", "_")
    body = {"error": {"code": code, "message": err.description or err.name}}
    return jsonify(body), err.code


__all__ = ["bp", "json_http_error", "abort"]
