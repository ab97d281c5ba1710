"""The autopilot: opt-in rules that steer a run the way a person watching it would.

Plateau: the smoothed metric has not improved for ``patience`` steps → lr × ``factor``, at
most ``max_times`` times. Divergence: a NaN/inf or a smoothed value above ``ratio`` × its best
→ back to the last healthy copy of the training state, lr × ``factor``. Every action is an
event with ``"by": "autopilot"``; ``undo`` puts the lr of the last action back.
"""

from __future__ import annotations

import math
from typing import Any

from lernkurve.shared.metrics import number, pick_metric
from lernkurve.tracking.state import TrainingState
from lernkurve.tracking.torchdist import in_distributed_job

SMOOTHING = 0.9  # the moving average that plateau and ratio checks read
MAX_RESTORES = 10  # after this many, a divergence pauses the run as without the autopilot


def command(run: Any, step: int, payload: dict) -> None:
    """An autopilot command: switch it on (or change its settings) or off, or undo its last
    action; an event records the settings at ``step``."""
    if in_distributed_job():  # its decisions would be rank 0's alone: replicas diverge
        run.event("note", {"message": "autopilot: not available in distributed jobs yet"}, step)
        return
    if payload.get("undo"):
        if run.autopilot is not None:
            run.autopilot.undo(step)
        return
    if not payload.get("enabled"):
        run.autopilot = None
    elif run.autopilot is None:
        run.autopilot = Autopilot(run, payload)
    else:
        run.autopilot.configure(payload)
    run.event("autopilot", {"enabled": bool(payload.get("enabled")), "settings": payload}, step)


class Autopilot:
    """Watches one metric through ``observe`` (log calls) and acts at step boundaries."""

    def __init__(self, run: Any, settings: dict) -> None:
        self.run = run
        self.settings = settings
        self.metric: str | None = settings["plateau"].get("metric")
        self.average: float | None = None
        self.count = 0
        self.best = math.inf  # the plateau rule's best: moves only by more than min_delta
        self.best_step: int | None = None
        self.lowest = math.inf  # the smoothed metric's lowest value
        self.broken: float | None = None  # the non-finite or runaway value seen, until handled
        self.times = 0  # plateau actions so far
        self.restores = 0
        self.last_action: dict | None = None
        self.safe: TrainingState | None = None
        self.safe_step: int | None = None

    def configure(self, settings: dict) -> None:
        self.settings = settings
        self.metric = settings["plateau"].get("metric") or self.metric

    # -- the training thread, in log() ------------------------------------------------------------

    def observe(self, step: int, scalars: dict) -> None:
        if self.metric is None:
            self.metric = pick_metric(scalars)
        if self.metric not in scalars:
            return
        value = number(scalars[self.metric])
        if value is None:
            return
        if not math.isfinite(value):
            self.broken = value
            return
        self.count += 1
        average = value if self.average is None else self.average
        self.average = SMOOTHING * average + (1 - SMOOTHING) * value
        self.lowest = min(self.lowest, self.average)  # divergence compares with this
        ratio = self.settings["divergence"]["ratio"]
        if self.count > 10 and self.lowest > 0 and self.average > ratio * self.lowest:
            self.broken = self.average
        if self.average < self.best - self.settings["plateau"]["min_delta"]:
            self.best, self.best_step = self.average, step
        elif self.best_step is None:
            self.best_step = step

    # -- the training thread, between steps -------------------------------------------------------

    def boundary(self, step: int) -> None:
        divergence = self.settings["divergence"]
        if self.broken is not None and divergence["enabled"] and self._can_restore():
            self._restore(step)
            return
        if self.broken is None:
            self._keep_safe_copy(step, divergence["snapshot_every"])
        # A divergence nobody restores (the rule is off, or out of restores) is seen again at
        # the next log if it lasts; holding it would switch the plateau rule off for good.
        self.broken = None
        self._check_plateau(step)

    def _can_restore(self) -> bool:
        return self.safe is not None and self.restores < MAX_RESTORES

    def handles_divergence(self) -> bool:
        return self.settings["divergence"]["enabled"] and self._can_restore()

    def _keep_safe_copy(self, step: int, every: int) -> None:
        if self.run.model is None or self.run.optimizer is None:
            return
        if self.safe_step is None or step - self.safe_step >= every:
            self.safe, self.safe_step = TrainingState(self.run), step

    def _check_plateau(self, step: int) -> None:
        plateau = self.settings["plateau"]
        if not plateau["enabled"] or self.times >= plateau["max_times"] or self.best_step is None:
            return
        if step - self.best_step < plateau["patience"]:
            return
        self.times += 1
        self.best_step = step  # wait another `patience` steps before acting again
        self._scale_lr(step, plateau["factor"], "plateau", {"best": self.best})

    def _restore(self, step: int) -> None:
        value, self.broken = self.broken, None
        self.safe.restore()
        self.restores += 1
        self.average, self.count = None, 0
        payload = {"by": "autopilot", "rule": "divergence", "from_step": self.safe_step}
        self.run.event("restore", {**payload, "value": str(value), "source": "snapshot"}, step)
        self._scale_lr(step, self.settings["divergence"]["factor"], "divergence", {})

    def _scale_lr(self, step: int, factor: float, rule: str, extra: dict) -> None:
        old = self.run.current_lr()
        if old is None:
            return
        details = self.run.set_hparams({"lr": old * factor}, "scale")
        if details is None:
            return
        self.last_action = {"rule": rule, "lr": old}
        self.run.event("hparams", {**details, "by": "autopilot", "rule": rule, **extra}, step)

    def undo(self, step: int) -> None:
        """Put back the lr from before the last action (a restore itself stays done)."""
        action, self.last_action = self.last_action, None
        if action is None:
            return
        details = self.run.set_hparams({"lr": action["lr"]}, "scale")
        if details is not None:
            payload = {**details, "by": "autopilot", "rule": action["rule"], "undo": True}
            self.run.event("hparams", payload, step)
