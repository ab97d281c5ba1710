"""What the app asks of a run, applied on the training thread between two steps.

The writer thread hands commands over (``receive``) as it reads them from the database; the
loop applies them at its next boundary (``obey``), where each becomes an event at that step.
Pause holds the loop in ``obey``; step lets one step through; stop ends the loop. While a
trial runs, commands other than these wait and are applied once it ends.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from lernkurve.shared.marks import marked
from lernkurve.store.models import now

# Commands a trial takes at once (stop ends it; pause holds it); the others wait for its end.
TRIAL_COMMANDS = ("stop", "pause", "resume", "step", "diverged")


__all__ = ["Commands", "marked"]  # marked: who asked for a command (lernkurve.shared.marks)


class Commands:
    """A run's inbox and the state commands leave: paused, a step budget, stopping."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.inbox: deque = deque()  # (command_id, kind, payload) from the writer thread
        self.cond = threading.Condition()
        self.signal = False  # the loop's fast-path flag: something waits in the inbox
        self.paused = False
        self.step_budget = 0
        self.stopping = False
        self.diverged = False
        self.deferred: list = []  # commands that wait for a trial to end
        self.recipe: deque = deque()  # (step, kind, payload) a replayed recipe applies
        self._seen: set[int] = set()
        self._handlers = {
            "hparams": self._hparams,
            "release": self._release,
            "pause": self._pause,
            "resume": self._resume,
            "step": self._step,
            "stop": self._stop,
            "diverged": self._diverged,
            "lr_test": self._trial,
            "race": self._trial,
            "autopilot": self._autopilot,
            "checkpoint": self._checkpoint,
        }

    # -- the writer thread ----------------------------------------------------------------------

    def receive(self, command_id: int, kind: str, payload: dict) -> None:
        if command_id in self._seen:
            return
        self._seen.add(command_id)
        self.post((command_id, kind, payload or {}))

    def non_finite(self, step: int, key: str, value: float) -> None:
        """A NaN/inf loss pauses the run (once) and records a `diverged` event at its step."""
        if "loss" in key and not self.diverged:
            self.diverged = True
            self.post((None, "diverged", {"key": key, "value": str(value), "step": step}))

    def post(self, item: tuple) -> None:
        with self.cond:
            self.inbox.append(item)
            self.signal = True
            self.cond.notify_all()

    # -- the training thread --------------------------------------------------------------------

    def at_boundary(self, step: int) -> None:
        """Between steps: apply what came in, hold while paused; a single step spends its
        budget. With nothing waiting this is two flag tests (the loop's hot path)."""
        if self.signal or self.paused:
            self.obey(step)
        if self.step_budget:
            self.step_budget -= 1

    def obey(self, step: int) -> None:
        run = self.run
        while True:
            with self.cond:
                item = self.inbox.popleft() if self.inbox else None
                if item is None:
                    self.signal = False
                    if self.stopping or not self.paused or self.step_budget:
                        break
                    run.status = "paused"
                    self.cond.wait(0.5)
                    continue
            # Applied without the inbox's lock: a handler may flush (a trial's child run ends),
            # and the writer hands over new commands while it holds its own lock.
            self.apply(step, *item)
        if not self.stopping:
            run.status = "running" if not self.paused else "paused"

    def apply(self, step: int, command_id: int | None, kind: str, payload: dict) -> None:
        if self.run.trial is not None and kind not in TRIAL_COMMANDS:
            self.deferred.append((command_id, kind, payload))  # applied once the trial ends
            return
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(step, kind, payload)
        if command_id is not None:
            self.run.buffer.add("ack", {"id": command_id, "at": now()})

    def load_recipe(self, recipe: dict | None, from_step: int) -> None:
        """A recipe's commands (lernkurve.shared.recipes), each for its step from ``from_step``."""
        entries = (recipe or {}).get("steps") or []
        self.recipe = deque(
            (e["step"], e["command"]["kind"], e["command"].get("payload") or {})
            for e in sorted(entries, key=lambda e: e["step"])
            if e["step"] >= from_step
        )

    def replay_recipe(self, step: int) -> None:
        """Apply the recipe's commands due at ``step``, marked as the recipe's."""
        recipe = self.recipe
        while recipe and recipe[0][0] <= step:
            _, kind, payload = recipe.popleft()
            self.apply(step, None, kind, {**payload, "by": "recipe"})

    def refuse_deferred(self, reason: str) -> None:
        """The commands that waited for a trial, when the run ends before it did: each says
        it was not carried out, and why."""
        deferred, self.deferred = self.deferred, []
        for command_id, kind, _ in deferred:
            message = f"{kind.replace('_', ' ')} was not carried out: {reason}"
            self.run.event("note", {"message": message, "command": kind})
            if command_id is not None:
                self.run.buffer.add("ack", {"id": command_id, "at": now()})

    def replay_deferred(self) -> None:
        deferred, self.deferred = self.deferred, []
        for item in deferred:
            self.post(item)

    # -- one handler per kind -------------------------------------------------------------------

    def _hparams(self, step: int, kind: str, payload: dict) -> None:
        self.run.changes.apply(step, payload)

    def _release(self, step: int, kind: str, payload: dict) -> None:
        self.run.changes.release(step, payload)

    def _pause(self, step: int, kind: str, payload: dict) -> None:
        if not self.paused:
            self.paused = True
            self.run.event("pause", marked(payload), step)

    def _resume(self, step: int, kind: str, payload: dict) -> None:
        if self.paused:
            self.paused = False
            self.step_budget = 0
            self.run.event("resume", marked(payload), step)

    def _step(self, step: int, kind: str, payload: dict) -> None:
        self.paused = True
        self.step_budget = 1
        self.run.event("step", marked(payload), step)

    def _stop(self, step: int, kind: str, payload: dict) -> None:
        self.run.trials.abort("stopped")  # back at the trial's start: the run's own step
        self.stopping = True
        self.run.event("stop", marked(payload), self.run.step)

    def _diverged(self, step: int, kind: str, payload: dict) -> None:
        autopilot = self.run.autopilot
        if autopilot is not None and autopilot.handles_divergence():
            self.diverged = False  # the autopilot restores; a later divergence counts again
        else:
            self.paused = True
        self.run.event("diverged", payload, payload.get("step", step))

    def _trial(self, step: int, kind: str, payload: dict) -> None:
        self.run.trials.start(kind, step, payload)

    def _autopilot(self, step: int, kind: str, payload: dict) -> None:
        from lernkurve.tracking.autopilot import command

        command(self.run, step, payload)

    def _checkpoint(self, step: int, kind: str, payload: dict) -> None:
        self.run.checkpoint_now(step, marked(payload))
