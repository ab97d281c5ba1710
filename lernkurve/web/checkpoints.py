"""REST routes of a run's checkpoints: listed with their size on disk and why one is still
needed, and deleted on request (refused while a live fork starts from it)."""

from __future__ import annotations

from flask import current_app

from lernkurve.store import checkpoints as files
from lernkurve.store.checkpoints import NotRemoved
from lernkurve.store.models import Checkpoint
from lernkurve.web.rest import MAX_ID, ApiError, api_blueprint, db, load_run, rows_of

bp = api_blueprint("checkpoints")


@bp.get("/runs/<int:run_id>/checkpoints")
def checkpoints(run_id: int):
    """The run's checkpoints, each with its size on disk and why it is still needed, if it is."""
    rows = rows_of(Checkpoint, run_id)
    with db().Session() as session:
        in_use = files.in_use(session)
    for row in rows:
        row["size_bytes"] = files.disk_size(row["path"])
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
        reason = files.in_use(session).get(ckpt.path)
        if reason:
            raise ApiError(409, "checkpoint_in_use", reason)
        # The file first: if it cannot go, the row stays and the page can ask again.
        try:
            files.remove_path(ckpt.path)
        except NotRemoved as err:
            raise ApiError(409, err.code, str(err)) from err
        session.delete(ckpt)
        session.commit()
    current_app.extensions["socketio"].emit("checkpoints_changed", {"run_id": run_id})
    return "", 204
