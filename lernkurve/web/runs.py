"""REST routes of runs themselves: list, start, annotate, fork, delete (docs/api.md)."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, request
from sqlalchemy import delete, select

from lernkurve import __version__
from lernkurve.shared import recipes
from lernkurve.shared.hparams import HParamError, resolve
from lernkurve.shared.taskspecs import TASKS, public_tasks, task_schema, total_steps_for
from lernkurve.store.checkpoints import fork_sources, remove_files
from lernkurve.store.database import shown_url
from lernkurve.store.media import remove_media
from lernkurve.store.models import (
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
from lernkurve.store.summaries import run_summaries
from lernkurve.store.trialrows import children_of
from lernkurve.web.rest import (
    ApiError,
    api_blueprint,
    checked,
    checked_name,
    db,
    flag_arg,
    json_body,
    load_run,
    text_arg,
)

bp = api_blueprint("runs")

MAX_TAG, MAX_TAGS, MAX_NOTES = 40, 20, 20_000


# An `interrupted` run whose heartbeat is younger than this may belong to a process that is
# only stopped (SIGSTOP, a debugger, a long evaluation): deleting it would lose its points.
RECENT_HEARTBEAT = 60.0


@bp.get("/health")
def health():
    """Alive, which release, and the database a script passes as ``db=`` to join this app."""
    return {"status": "ok", "version": __version__, "database": shown_url(db().url)}


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


@bp.get("/runs/changes")
def hparam_changes():
    """Each run's changed hparams as trajectories: {run_id: {key: [{step, value}, ...]}}, the
    value it started with first (runs whose hparams never changed are left out)."""
    query = select(Event.run_id, Event.step, Event.payload).where(Event.kind == "hparams")
    changes: dict[int, dict[str, list[dict]]] = {}
    with db().Session() as session:
        for run_id, step, payload in session.execute(query.order_by(Event.id)):
            changed = (payload or {}).get("changes") or {}
            for key, pair in changed.items() if isinstance(changed, dict) else ():
                if not isinstance(pair, list) or len(pair) != 2:
                    continue
                path = changes.setdefault(run_id, {}).setdefault(key, [])
                if not path:
                    path.append({"step": None, "value": pair[0]})
                if pair[1] != path[-1]["value"]:
                    path.append({"step": step, "value": pair[1]})
    return {"changes": changes}


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
        end = total_steps_for(task, hparams)
        config["recipe"] = checked_recipe(schema, body["recipe"], end)
    return insert_queued(name, task, hparams, config), 201


def checked_recipe(schema: dict, recipe, end: int | None) -> dict:
    """A recipe whose every change this task accepts live, none past the run's end
    (lernkurve.shared.recipes)."""
    try:
        return recipes.checked(recipe, schema, end)
    except recipes.RecipeError as err:
        raise ApiError(400, "invalid_recipe", str(err)) from err


def insert_queued(name: str, task: str, hparams: dict, config: dict, **fields) -> dict:
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
        child = insert_queued(
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


@bp.delete("/runs/<int:run_id>")
def delete_run(run_id: int):
    """Remove a run, its rows, its checkpoint and media files; ``?force=1`` even if it may
    live."""
    force = flag_arg("force")
    with db().Session() as session:
        run = load_run(session, run_id)
        reason = why_process_may_live(run)
        if reason and not force:
            raise ApiError(409, "run_may_live", reason, run_status=run.status)
        doomed = [run_id, *children_of(session, [run_id])]  # its trials' runs go with it
        paths = session.scalars(select(Checkpoint.path).where(Checkpoint.run_id == run_id)).all()
        for model in (MetricBucket, Event, Command, Checkpoint, Snapshot):
            session.execute(delete(model).where(model.run_id.in_(doomed)))
        session.execute(delete(RunRow).where(RunRow.id.in_(doomed[1:])))
        session.delete(run)
        session.flush()  # waits for a batch of the run being written now, which then fails
        # After the row: PostgreSQL has no foreign key from metrics (speed), and this also
        # reads the points of a batch that committed while the row was being deleted.
        delete_points(session, doomed)
        session.commit()
        still_needed = fork_sources(session)
    remove_files(set(paths) - still_needed)
    remove_media(db(), doomed)
    for gone in doomed:
        current_app.extensions["socketio"].emit("run_deleted", {"id": gone})
    return "", 204


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
