"""A trial's child run: the steps an lr test or a race variant tried, written as a run of its
own (its points, status and end), beside the run that hosted the trial."""

from __future__ import annotations

from typing import Any

from lernkurve.store.models import now
from lernkurve.tracking import writer
from lernkurve.tracking.buffer import NoInbox, RunBuffer


class ChildRun:
    """Takes the log calls of a trial's steps; ``end`` writes the last of them and its end."""

    def __init__(self, db: Any, run_id: int, hparams: dict, step: int) -> None:
        self.id = run_id
        self.status = "running"
        self.step = step
        self.hparams = dict(hparams)
        self.buffer = RunBuffer(db, run_id, self._row, NoInbox())
        self._writer = writer.register(self.buffer)
        # The trial starts here, not where the app asked for it. Written by the writer, in the
        # transaction that writes the host run's row at this step and its points before it: a
        # process killed meanwhile leaves no trial starting past what its run stored.
        self.buffer.add("trial_start", {"step": step})

    def _row(self) -> dict:
        return {
            "status": self.status,
            "step": self.step,
            "total_steps": None,
            "hparams": self.hparams,
        }

    def log_call(self, step: int, wall_time: float, scalars: dict) -> None:
        self.buffer.points.append((step, wall_time, scalars))
        self.step = step

    def end(self, status: str = "completed", error: str | None = None) -> None:
        self.buffer.end(now(), error)  # before the status: the writer commits them together
        self.status = status
        self._writer.unregister(self.buffer)
