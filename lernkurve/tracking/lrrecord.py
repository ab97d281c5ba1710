"""What a run records of its optimizer: the lr each step really used, and the param groups.

The lr comes from the steering's step pre-hook (what ``optimizer.step()`` used) and is logged
at the next boundary, as ``lr`` (``lr/group<i>`` for groups with their own), or as
``lr/effective`` beside a script that logs ``lr`` itself: often its schedule's own value, which
a steer changes. Snapshots of the param groups follow the steer at once and a moving schedule
at most every FOLLOW_EVERY seconds.
"""

from __future__ import annotations

import math
import time
from typing import Any

FOLLOW_EVERY = 0.5  # seconds between optimizer snapshots that only follow a schedule


class LrRecord:
    """The lr series and optimizer snapshots of one run (``run.steering`` set)."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.user_lr: tuple | None = None  # (step, value) the script last logged as lr itself
        self._told = False  # the note on lr vs lr/effective was given
        self._shown: tuple[list, float] | None = None  # (lrs, time) last snapshotted
        # The live key that follows the lr used (None: the loop feeds that key into the
        # optimizer itself, so it keeps the value asked for; lernkurve.tracking.wandbsurface).
        self.mirror: str | None = "lr"

    def logged_by_script(self, step: int, value: Any) -> None:
        self.user_lr = (step, value)

    def after_step(self, step: int) -> None:
        """Log the lr the optimizer used at ``step`` (called at the boundary after it)."""
        values: dict = {}
        if not self.put(step, values):
            return
        run = self.run
        if run.trial is not None:  # a trial's steps belong to its child run
            run.trial.log(step, time.time(), values)
        else:
            run.buffer.points.append((step, time.time(), values))

    def put(self, step: int, values: dict) -> bool:
        """Add the lr the optimizer used at ``step`` to ``values``, once: ``lr`` (or
        ``lr/effective`` beside a script's own lr) and ``lr/group<i>``. False when no step
        used one since (nothing added)."""
        run = self.run
        steering = run.steering
        if steering is None or step < 0:
            return False
        effective = steering.used
        if not effective:
            return False
        steering.used = []
        first = effective[0]
        if len(effective) > 1:
            groups = enumerate(effective)
            values.update({f"lr/group{i}": lr for i, lr in groups if i and lr != first})
        if self.user_lr is None:
            values["lr"] = first
        else:
            values["lr/effective"] = first
            self._explain(step, first)
        if run.trial is None:
            mirror = self.mirror
            if mirror is not None and mirror in run.hparams:
                run.hparams[mirror] = first
            shown = self._shown
            if shown is None or shown[0] != steering.effective:  # (in C: the hot path)
                self.follow()
        return True

    def at_end(self, last_step: int) -> None:
        """The last step's lr (no boundary followed it) and the optimizer as it ended."""
        if self.run.steering is not None:
            self.after_step(last_step)
            self.follow(force=True)

    def snapshot(self) -> None:
        """An ``optimizer`` snapshot now: per-group values, the lr mode and factor."""
        steering = self.run.steering
        if steering is not None:
            self._shown = (list(steering.effective), time.monotonic())
            self.run.snapshot("optimizer", steering.describe())

    def follow(self, force: bool = False) -> None:
        """A snapshot when the lrs moved (a schedule), at most every FOLLOW_EVERY seconds;
        ``force``: now, if anything moved."""
        lrs = self.run.steering.effective
        shown = self._shown
        if shown is not None and shown[0] == lrs:
            return
        if shown is not None and not force and time.monotonic() - shown[1] < FOLLOW_EVERY:
            return
        self.snapshot()

    def _explain(self, step: int, used: float) -> None:
        """Once: the script's own lr differs from what the optimizer used (a steer)."""
        logged_at, logged = self.user_lr
        if self._told or logged_at != step or not isinstance(logged, (int, float)):
            return
        if math.isclose(logged, used, rel_tol=1e-9, abs_tol=0.0):
            return
        self._told = True
        message = (
            f"this script logs lr itself ({logged:.4g} at step {step}), the value its schedule "
            f"computed; the optimizer used {used:.4g} (Lernkurve's steer). Both are drawn: lr "
            "as logged, lr/effective as used."
        )
        self.run.event("note", {"message": message, "key": "lr/effective"}, step)
