"""A resume under way in this process (lernkurve.tracking.resume plans and claims it): our
checkpoint's state goes into the script's objects at ``watch()``; only then, or at the first
step or log, is the resume settled (the dead process's points removed, an event recorded). If
the objects refuse the state first, the run's row is put back as it was."""

from __future__ import annotations

from typing import Any

from lernkurve.tracking import checkpointing, resume


class Resumption:
    """One run's resume: its plan, and the state still to load (None once loaded)."""

    def __init__(self, run: Any, plan: resume.ResumePlan) -> None:
        self.run = run
        self.plan = plan
        self.state = plan.state  # our checkpoint's contents; None: a framework loaded its own
        self.settled = False

    def load(self) -> dict:
        """Put the checkpoint's state into the run's model, optimizer and schedulers; the
        resume is undone (ResumeError) if they refuse it before it settled."""
        state, self.state = self.state, None
        if not state:
            return {}
        try:
            checkpointing.load(self.run, state)
        except Exception as exc:
            if self.settled:  # the script logged before watch(): too late to undo
                raise
            self.run.abandon_resume(exc)
        return state

    def settle(self) -> None:
        if not self.settled:
            self.settled = True
            if self.run.db is not None:
                resume.settle(self.run.db, self.plan)

    def undo(self, exc: BaseException) -> None:
        """Put the row back as it was before the claim and raise ResumeError saying why."""
        if self.run.db is not None:
            resume.restore(self.run.db, self.plan)
        raise resume.ResumeError(resume.refusal(self.plan, exc)) from exc
