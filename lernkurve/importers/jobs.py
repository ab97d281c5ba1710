"""An import in a thread of its own: its progress while it runs, its report when it ends, and a
way to cancel it (the run being imported then goes back to how it was). The app's import route
and the command line both run imports this way."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from threading import Event

from lernkurve.importers.logdir import run_import
from lernkurve.importers.report import Progress
from lernkurve.importers.walk import Limits

log = logging.getLogger(__name__)


class ImportJob:
    def __init__(self, logdir, db=None, limits: Limits | None = None) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.logdir, self.db, self.limits = str(logdir), db, limits or Limits()
        self.progress = Progress()
        self.stop = Event()
        self.report = None
        self.error: dict | None = None
        self.state = "running"  # running -> done | cancelled | failed
        self.started_at, self.ended_at = time.time(), None
        self.thread = threading.Thread(target=self._run, name=f"lernkurve-import-{self.id}")
        self.thread.daemon = True

    def start(self) -> ImportJob:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            report = run_import(self.logdir, self.db, self.limits, self.progress, self.stop)
        except FileNotFoundError as err:
            self._failed("no_such_folder", str(err))
        except ImportError as err:
            self._failed("extra_missing", str(err))
        except Exception as err:  # noqa: BLE001 - the job says what went wrong, it never hides it
            log.exception("lernkurve: the import of %s failed", self.logdir)
            self._failed("import_failed", f"{type(err).__name__}: {err}")
        else:
            self.report = report
            self.state = "cancelled" if report.cancelled else "done"
        finally:
            self.ended_at = time.time()

    def _failed(self, code: str, message: str) -> None:
        self.error = {"code": code, "message": message}
        self.state = "failed"

    def cancel(self) -> None:
        self.stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the job to end; whether it has."""
        self.thread.join(timeout)
        return not self.thread.is_alive()

    @property
    def running(self) -> bool:
        return self.state == "running"

    def to_dict(self) -> dict:
        state, report, error = self.state, self.report, self.error  # set in this order
        data = {
            "id": self.id,
            "logdir": self.logdir,
            "state": state,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "cancel_requested": self.stop.is_set(),
            "limits": {f.name: getattr(self.limits, f.name) for f in dataclasses.fields(Limits)},
            "progress": self.progress.snapshot(),
        }
        if report is not None:
            data.update(report.to_dict())
        else:
            data.update(runs=[], errors=[], skipped=[], skipped_more=0, bound=None)
            data["cancelled"] = False
            data["message"] = error["message"] if error else "importing"
        if error is not None:
            data["error"] = error
        return data
