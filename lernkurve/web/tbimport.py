"""``POST /api/import/tensorboard``: TensorBoard event files of this machine imported as runs.

A blueprint of its own beside the run routes; create_app registers it. The importer
(lernkurve.importers.tensorboard) needs the
tensorboard extra: without it the route answers 501 with the line saying what to install.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, jsonify, request

bp = Blueprint("tbimport", __name__, url_prefix="/api")

MAX_PATH = 4096


def _error(status: int, code: str, message: str):
    return jsonify({"error": {"code": code, "message": message}}), status


@bp.post("/import/tensorboard")
def import_tensorboard():
    """Import every run under ``{"logdir": PATH}``; again later, only points not imported yet."""
    body = request.get_json(silent=True)
    logdir = body.get("logdir") if isinstance(body, dict) else None
    if not isinstance(logdir, str) or not logdir.strip() or len(logdir) > MAX_PATH:
        return _error(400, "bad_request", "logdir must be the path of a folder on this machine")
    if "\x00" in logdir:
        return _error(400, "bad_request", "logdir must not contain a NUL character")
    folder = Path(logdir).expanduser()
    if not folder.is_dir():
        return _error(404, "no_such_folder", f"no such folder: {logdir}")
    from lernkurve.importers.tensorboard import import_logdir

    try:
        runs = import_logdir(folder, current_app.extensions["lernkurve"].db)
    except ImportError as err:
        return _error(501, "extra_missing", str(err))
    if not runs:
        return _error(404, "no_event_files", f"no TensorBoard event files under {logdir}")
    return {"runs": runs}
