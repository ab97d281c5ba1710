"""TensorBoard event files of this machine imported as runs, as jobs in the background:

``POST /api/import/tensorboard`` starts one (202 and the job), ``GET .../<id>`` says how far it
got (files, bytes and points so far, the runs, the files that failed), ``DELETE .../<id>``
cancels it, ``GET /api/import/tensorboard`` lists the recent ones.

A blueprint of its own beside the run routes; create_app registers it. The importer
(lernkurve.importers.tensorboard) needs the tensorboard extra: without it the route answers 501
with the line saying what to install.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from flask import current_app

from lernkurve.web.rest import ApiError, api_blueprint, db, json_body

if TYPE_CHECKING:  # the importer (and numpy) load with the first import, not with the app
    from lernkurve.importers.tensorboard import ImportJob, Limits

bp = api_blueprint("tbimport")

MAX_PATH = 4096
MAX_RUNNING = 4  # imports at once; each is a thread reading files
KEEP = 50  # finished jobs kept to be asked about


class Jobs:
    """The app's import jobs by id: a few running, the recent finished ones."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: dict[str, ImportJob] = {}

    def start(self, job: ImportJob) -> None:
        with self.lock:
            if sum(j.running for j in self.jobs.values()) >= MAX_RUNNING:
                raise ApiError(
                    429,
                    "too_many_imports",
                    f"{MAX_RUNNING} imports are running; wait for one to end or cancel one",
                )
            finished = [key for key, j in self.jobs.items() if not j.running]
            for key in finished[: max(len(finished) - KEEP + 1, 0)]:
                del self.jobs[key]
            self.jobs[job.id] = job
            job.start()

    def listed(self) -> list[ImportJob]:
        """Newest first."""
        with self.lock:
            return sorted(self.jobs.values(), key=lambda j: j.started_at, reverse=True)

    def get(self, job_id: str) -> ImportJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", f"no import job {job_id}")
        return job


def jobs() -> Jobs:
    return current_app.extensions.setdefault("lernkurve.tbimport", Jobs())


def _limits(body: dict) -> Limits:
    from lernkurve.importers.tensorboard import Limits

    values = {}
    for name, (low, high) in Limits.BOUNDS.items():
        value = body.get(name)
        if value is None:
            continue
        whole = name != "max_seconds"
        kinds = int if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
            kind = "a whole number" if whole else "a number"
            message = f"{name} must be {kind} from {low:g} to {high:g}"
            raise ApiError(400, "bad_request", message, key=name)
        values[name] = value
    return Limits(**values)


@bp.post("/import/tensorboard")
def start_import():
    """Start importing every run under ``{"logdir": PATH}`` (bounds: ``max_files``,
    ``max_bytes``, ``max_seconds``); again later, only points not imported yet."""
    from lernkurve.importers.tensorboard import ImportJob, require

    body = json_body()
    logdir = body.get("logdir")
    if not isinstance(logdir, str) or not logdir.strip() or len(logdir) > MAX_PATH:
        raise ApiError(400, "bad_request", "logdir must be the path of a folder on this machine")
    if "\x00" in logdir:
        raise ApiError(400, "bad_request", "logdir must not contain a NUL character")
    limits = _limits(body)
    folder = Path(logdir).expanduser()
    if not folder.is_dir():
        raise ApiError(404, "no_such_folder", f"no such folder: {logdir}")
    try:
        require()
    except ImportError as err:
        raise ApiError(501, "extra_missing", str(err)) from err
    job = ImportJob(folder, db(), limits)
    jobs().start(job)
    location = f"/api/import/tensorboard/{job.id}"
    return {"job": job.to_dict()}, 202, {"Location": location}


@bp.get("/import/tensorboard")
def list_imports():
    """The recent import jobs, newest first."""
    return {"jobs": [job.to_dict() for job in jobs().listed()]}


@bp.get("/import/tensorboard/<job_id>")
def import_status(job_id: str):
    """How far an import got: progress, runs, errors, and its state once it has ended."""
    return {"job": jobs().get(job_id).to_dict()}


@bp.delete("/import/tensorboard/<job_id>")
def cancel_import(job_id: str):
    """Cancel an import: the run it is importing goes back to how it was (202; 200 when the
    job had already ended)."""
    job = jobs().get(job_id)
    if not job.running:
        return {"job": job.to_dict()}, 200
    job.cancel()
    return {"job": job.to_dict()}, 202
