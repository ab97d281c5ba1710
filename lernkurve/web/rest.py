"""What every REST route shares: errors answered as JSON, the request's body and arguments
checked before anything changes, the app's database. Each group of routes is a blueprint of its
own (runs, steer, history, checkpoints, decide, tbimport) made by ``api_blueprint``; the API's
contract is docs/api.md."""

from __future__ import annotations

from urllib.parse import unquote

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from lernkurve.shared.hparams import HParamError, validate
from lernkurve.shared.marks import LONGEST_REASON
from lernkurve.shared.names import name_problem
from lernkurve.store.agentaccess import load_access
from lernkurve.store.database import Database
from lernkurve.store.models import FINISHED_STATUSES, RunRow
from lernkurve.store.sqlite import is_disk_full, is_locked


def api_blueprint(name: str) -> Blueprint:
    """A blueprint under /api whose errors answer as every route's do."""
    bp = Blueprint(name, __name__, url_prefix="/api")
    bp.register_error_handler(ApiError, answer_error)
    bp.register_error_handler(OperationalError, database_refused)
    return bp


MAX_ID = 2**63 - 1  # SQLite integers are 64-bit signed


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", ...}}`` with its status."""

    def __init__(self, status: int, code: str, message: str, **extra) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def answer_error(err: ApiError):
    body = {"error": {"code": err.code, "message": err.message, **err.extra}}
    return jsonify(body), err.status


def database_refused(err: OperationalError):
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


# Clients that mark the changes they ask for: each command's payload, and the event the run
# records for it, then carries ``"by": <client>`` (the page sends no mark), and the reason an
# ``X-Lernkurve-Reason`` header gives. An agent steers only where the database allows it.
CLIENTS = ("cli", "agent")
STEERING_OFF = (
    "an AI agent may not steer runs in this database (steering is off; reading is on). "
    "To allow it run `lernkurve mcp allow-steering` (`lernkurve mcp deny-steering` turns it off)"
)


def requested_by() -> dict:
    """``{"by": client, "reason": ...}`` from the request's ``X-Lernkurve-By`` and
    ``X-Lernkurve-Reason`` headers, ``{}`` without a client; a 403 for an agent that may not
    steer."""
    client = request.headers.get("X-Lernkurve-By")
    if client is None:
        return {}
    if client not in CLIENTS:
        raise ApiError(400, "invalid_client", f"X-Lernkurve-By must be one of {', '.join(CLIENTS)}")
    if client == "agent" and not load_access(db())["steer"]:
        raise ApiError(403, "steering_not_allowed", STEERING_OFF)
    reason = " ".join(
        unquote(request.headers.get("X-Lernkurve-Reason", "")).split()
    )  # UTF-8, %-encoded
    if len(reason) > LONGEST_REASON:
        message = f"X-Lernkurve-Reason must be at most {LONGEST_REASON} characters"
        raise ApiError(400, "invalid_reason", message)
    return {"by": client, **({"reason": reason} if reason else {})}


def require_live(run: RunRow) -> None:
    if run.status in FINISHED_STATUSES:
        raise ApiError(409, "run_finished", f"run {run.id} has ended ({run.status})")


def checked_name(name) -> str:
    problem = name_problem(name)
    if problem is not None:
        raise ApiError(400, "invalid_name", problem)
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


def text_arg(name: str, longest: int) -> str | None:
    value = request.args.get(name) or None
    if value is not None and len(value) > longest:
        raise ApiError(400, "invalid_argument", f"{name} must be at most {longest} characters")
    return value


def flag_arg(name: str) -> bool:
    raw = request.args.get(name)
    if raw not in (None, "", "0", "1"):
        raise ApiError(400, "invalid_argument", f"{name} must be 0 or 1")
    return raw == "1"


def json_http_error(err):
    """Any HTTP error under /api answers JSON, never an HTML page."""
    if not request.path.startswith("/api/"):
        return err
    code = (err.name or "error").lower().replace(" ", "_")
    body = {"error": {"code": code, "message": err.description or err.name}}
    return jsonify(body), err.code


def rows_of(model, run_id: int, latest: bool = False, **filters) -> list[dict]:
    """The run's rows in id order; ``latest``: only the newest (one index seek, not a scan)."""
    with db().Session() as session:
        load_run(session, run_id)
        query = select(model).where(model.run_id == run_id).filter_by(**filters)
        query = query.order_by(model.id.desc()).limit(1) if latest else query.order_by(model.id)
        return [row.to_dict() for row in session.scalars(query)]
