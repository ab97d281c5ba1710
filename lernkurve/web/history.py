"""REST routes that read a run's history: points, events, snapshots, the CSV export."""

from __future__ import annotations

import re

from flask import Response, request, send_from_directory, stream_with_context

from lernkurve.store import impact, queries
from lernkurve.store.media import FILE_NAME, run_media_dir
from lernkurve.store.models import Event, Snapshot
from lernkurve.web.rest import MAX_ID, ApiError, api_blueprint, db, int_arg, load_run, rows_of

bp = api_blueprint("history")

MAX_POINTS_CAP = 100_000


MAX_KEYS = 64  # metric keys one history request may name (the page names none)


MAX_KEY_LENGTH = 100  # metrics.key is VARCHAR(100)


@bp.get("/runs/<int:run_id>/metrics")
def metrics(run_id: int):
    with db().Session() as session:
        load_run(session, run_id)
    keys = metric_keys_arg()
    since_id = int_arg("since_id", 0, high=MAX_ID)
    max_points = int_arg("max_points", None, low=2, high=MAX_POINTS_CAP)
    since_step = int_arg("since_step", 0, high=MAX_ID)
    return queries.metric_series(db(), run_id, keys, since_id, max_points, since_step)


MAX_RUNS = 200  # runs one comparison request may name


@bp.get("/metrics")
def first_logged_series():
    """``?runs=1,2&keys=a,b``: each run's first of ``keys`` it logged, with its points (at
    most ``max_points``), the keys it logged and its ``last_id``; runs that don't exist are
    left out. One request for a comparison of many runs."""
    run_ids = run_ids_arg()
    keys = metric_keys_arg()
    if not keys:
        raise ApiError(400, "invalid_argument", "keys must name at least one metric")
    max_points = int_arg("max_points", None, low=2, high=MAX_POINTS_CAP)
    found = queries.first_logged_series(db(), run_ids, keys, max_points)
    return {"runs": {str(run_id): found[run_id] for run_id in run_ids if run_id in found}}


def run_ids_arg() -> list[int]:
    """``runs=1,2``: at most MAX_RUNS distinct run ids."""
    raw = [part for part in request.args.get("runs", "").split(",") if part]
    if not raw or len(raw) > MAX_RUNS:
        raise ApiError(400, "invalid_argument", f"runs must name 1 to {MAX_RUNS} run ids")
    try:
        run_ids = list(dict.fromkeys(int(part) for part in raw))
    except ValueError:
        raise ApiError(400, "invalid_argument", "runs must be whole numbers") from None
    if any(not 0 < run_id <= MAX_ID for run_id in run_ids):
        raise ApiError(400, "invalid_argument", f"a run id is between 1 and {MAX_ID}")
    return run_ids


def metric_keys_arg() -> list[str] | None:
    """``keys=a,b``: at most MAX_KEYS distinct names of at most MAX_KEY_LENGTH characters."""
    keys = list(dict.fromkeys(k for k in request.args.get("keys", "").split(",") if k))
    if len(keys) > MAX_KEYS:
        raise ApiError(400, "invalid_argument", f"keys may name at most {MAX_KEYS} metrics")
    if any(len(key) > MAX_KEY_LENGTH for key in keys):
        raise ApiError(400, "invalid_argument", f"a key has at most {MAX_KEY_LENGTH} characters")
    return keys or None


@bp.get("/runs/<int:run_id>/events")
def events(run_id: int):
    """The run's events; each hparams event with its measured ``impact`` once there is one."""
    return {"events": impact.annotate(db(), run_id, rows_of(Event, run_id))}


MEDIA_NAME = re.compile(FILE_NAME)


@bp.get("/runs/<int:run_id>/media/<name>")
def media_file(run_id: int, name: str):
    """A PNG the run logged (an image snapshot's file), from the run's media folder."""
    if not MEDIA_NAME.fullmatch(name) or name.startswith("."):
        raise ApiError(404, "not_found", f"no media file {name!r}")
    folder = run_media_dir(db(), run_id)
    if not (folder / name).is_file():
        raise ApiError(404, "not_found", f"run {run_id} has no media file {name!r}")
    response = send_from_directory(folder, name, mimetype="image/png", max_age=3600)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/runs/<int:run_id>/snapshots")
def snapshots(run_id: int):
    kind = request.args.get("kind")
    latest = bool(request.args.get("latest"))
    return {"snapshots": rows_of(Snapshot, run_id, latest, **({"kind": kind} if kind else {}))}


@bp.get("/runs/<int:run_id>/export.csv")
def export_csv(run_id: int):
    with db().Session() as session:
        run = load_run(session, run_id)
        filename = f"lernkurve-run-{run.id}.csv"
    lines = stream_with_context(queries.csv_lines(db(), run_id))
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(lines, mimetype="text/csv", headers=headers)
