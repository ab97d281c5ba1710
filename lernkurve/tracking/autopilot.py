"""The autopilot: opt-in rules that steer a run the way a person watching it would.

Plateau: the smoothed metric has not improved for ``patience`` steps → lr × ``factor``, at
most ``max_times`` times. Divergence: a NaN/inf, or the metric's level (the median of its last
``window`` values) above ``ratio`` × its recent median and a real part of the way back up to
where it started → back to the last healthy copy of the training state (the random generators
go on: the same batches would replay the same verdict), lr × ``factor`` from where it was, at
most ``max_times`` times. lr never goes below the run's schema minimum. Every action is an
event with ``"by": "autopilot"``; ``undo`` puts the lr of the last action back; a rule that
stops says so.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from typing import Any

from lernkurve.shared.autopilot import merge
from lernkurve.shared.marks import marked, unmarked
from lernkurve.shared.metrics import number, pick_metric
from lernkurve.tracking.state import TrainingState
from lernkurve.tracking.torchdist import in_distributed_job

SMOOTHING = 0.9  # the moving average that plateau and ratio checks read
TRAILING = 200  # values whose median a divergence is judged against
SIGNIFICANT = 0.1  # a departure must rise this share of the way back to the starting level
WARM_UP = 50  # log calls before the divergence rule judges at all
LOWEST_LR = 1e-12  # the autopilot's floor where the schema allows lr down to 0


def command(run: Any, step: int, payload: dict) -> None:
    """An autopilot command: switch it on (or change its settings) or off, or undo its last
    action; an event records the settings at ``step``."""
    if in_distributed_job():  # its decisions would be rank 0's alone: replicas diverge
        run.event("note", {"message": "autopilot: not available in distributed jobs yet"}, step)
        return
    asked_by = marked(payload)  # a client's (cli, agent) command says so
    payload = unmarked(payload)
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
    enabled = bool(payload.get("enabled"))
    run.event("autopilot", {"enabled": enabled, "settings": payload, **asked_by}, step)


class Autopilot:
    """Watches one metric through ``observe`` (log calls) and acts at step boundaries."""

    def __init__(self, run: Any, settings: dict) -> None:
        self.run = run
        self.settings = merge(settings, {})
        self.metric: str | None = self.settings["plateau"].get("metric")
        self.best = math.inf  # the plateau rule's best: moves only by more than min_delta
        self.best_step: int | None = None
        self.broken: float | None = None  # the non-finite or runaway value seen, until handled
        self.times = 0  # plateau actions so far
        self.restores = 0
        self.last_action: dict | None = None
        self.safe: TrainingState | None = None
        self.safe_step: int | None = None
        self._said: set[str] = set()  # rules that said they stopped
        self.start: float | None = None  # the metric's level when the autopilot began
        self._forget()

    def configure(self, settings: dict) -> None:
        self.settings = merge(settings, {})
        self.metric = self.settings["plateau"].get("metric") or self.metric
        self.last = deque(self.last, maxlen=self.settings["divergence"]["window"])

    def _forget(self) -> None:
        """Start judging afresh (after a restore: only values logged since count)."""
        self.average: float | None = None
        self.count = 0
        self.recent: deque = deque(maxlen=TRAILING)  # values whose median is the reference
        self.last: deque = deque(maxlen=self.settings["divergence"]["window"])

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
        self._judge_departure(value)
        if self.average < self.best - self.settings["plateau"]["min_delta"]:
            self.best, self.best_step = self.average, step
        elif self.best_step is None:
            self.best_step = step

    def _judge_departure(self, value: float) -> None:
        """Divergence: the median of the last ``window`` values above ``ratio`` x the median of
        the values before them, and risen a real part of the way back to where the run started
        (a spike at the loss's floor, 1e-4 to 1e-3, is noise, not a divergence). The values of
        a departure stay out of the reference they are judged against."""
        divergence = self.settings["divergence"]
        window = divergence["window"]
        self.last.append(value)
        if self.start is None and len(self.last) == window:
            self.start = statistics.median(self.last)  # the level the run started from
        if len(self.recent) >= max(2 * window, WARM_UP) and len(self.last) == window:
            level, reference = statistics.median(self.last), statistics.median(self.recent)
            risen = level - reference > SIGNIFICANT * max((self.start or 0.0) - reference, 0.0)
            if reference > 0 and level > divergence["ratio"] * reference and risen:
                self.broken = level
                self.last.clear()
                return
        self.recent.append(value)

    # -- the training thread, between steps -------------------------------------------------------

    def boundary(self, step: int) -> None:
        divergence = self.settings["divergence"]
        if self.broken is not None and divergence["enabled"] and self._can_restore(step):
            self._restore(step)
            return
        if self.broken is None:
            self._keep_safe_copy(step, divergence["snapshot_every"])
        # A divergence nobody restores (the rule is off, or out of restores) is seen again at
        # the next log if it lasts; holding it would switch the plateau rule off for good.
        self.broken = None
        self._check_plateau(step)

    def _can_restore(self, step: int) -> bool:
        if self.restores >= self.settings["divergence"]["max_times"]:
            self._say_once("divergence", step, "restored the run", self.restores)
            return False
        return self.safe is not None

    def handles_divergence(self) -> bool:
        divergence = self.settings["divergence"]
        return (
            divergence["enabled"]
            and self.safe is not None
            and self.restores < divergence["max_times"]
        )

    def _keep_safe_copy(self, step: int, every: int) -> None:
        if self.run.model is None or self.run.optimizer is None:
            return
        if self.safe_step is None or step - self.safe_step >= every:
            self.safe, self.safe_step = TrainingState(self.run), step

    def _check_plateau(self, step: int) -> None:
        plateau = self.settings["plateau"]
        if not plateau["enabled"] or self.best_step is None:
            return
        if step - self.best_step < plateau["patience"]:
            return
        if self.times >= plateau["max_times"]:
            self._say_once("plateau", step, "lowered lr", self.times)
            return
        self.times += 1
        self.best_step = step  # wait another `patience` steps before acting again
        lr = self.run.current_lr()
        if lr is not None:
            self._set_lr(step, lr, lr * plateau["factor"], "plateau", {"best": self.best})

    def _restore(self, step: int) -> None:
        """Back to the safe copy; lr goes on from where it was, cut again (cuts compound)."""
        value, self.broken = self.broken, None
        before = self.run.current_lr()
        self.safe.restore(rng=False)  # the same batches again would give the same verdict
        self.restores += 1
        self._forget()
        payload = {"by": "autopilot", "rule": "divergence", "from_step": self.safe_step}
        self.run.event("restore", {**payload, "value": str(value), "source": "snapshot"}, step)
        if before is not None:
            factor = self.settings["divergence"]["factor"]
            self._set_lr(step, before, before * factor, "divergence", {})

    def _set_lr(self, step: int, old: float, new: float, rule: str, extra: dict) -> None:
        """lr to ``new``, never below the run's schema minimum (nor 0)."""
        floor = self._lr_floor()
        if new < floor:
            new = floor
            self._say_once("minimum", step, f"lr is at its minimum ({floor:g}); it stays there")
        details = self.run.set_hparams({"lr": new}, "scale")
        if details is None:
            return
        self.last_action = {"rule": rule, "lr": old}
        self.run.event("hparams", {**details, "by": "autopilot", "rule": rule, **extra}, step)

    def _lr_floor(self) -> float:
        low = (self.run.schema.get("lr") or {}).get("min") or 0.0
        return max(float(low), LOWEST_LR)

    def _say_once(self, what: str, step: int, done: str, times: int | None = None) -> None:
        if what in self._said:
            return
        self._said.add(what)
        if times is None:
            message = f"autopilot: {done}"
        else:
            message = f"autopilot: the {what} rule {done} {times} times (its max_times) and stops"
        self.run.event("note", {"message": message, "by": "autopilot"}, step)

    def undo(self, step: int) -> None:
        """Put back the lr from before the last action (a restore itself stays done)."""
        action, self.last_action = self.last_action, None
        if action is None:
            self.run.event("note", {"message": "autopilot: nothing to undo"}, step)
            return
        details = self.run.set_hparams({"lr": action["lr"]}, "scale")
        if details is not None:
            payload = {**details, "by": "autopilot", "rule": action["rule"], "undo": True}
            self.run.event("hparams", payload, step)
