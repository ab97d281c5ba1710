"""Trials in place: an LR range test or a race of variants, run inside the script's own loop.

A trial starts at a step boundary: it copies the training state (lernkurve.tracking.state), takes
over the steps the loop runs next (their points go to child runs, numbered from the step the
trial started at) and, when done, restores that copy (lr test) or the winner's end state
(race). The parent run's step counter and charts are untouched by what was tried.
"""

from __future__ import annotations

import math
from typing import Any

from lernkurve.shared.marks import marked
from lernkurve.shared.metrics import number, pick_metric
from lernkurve.store.trialrows import end_children
from lernkurve.tracking.child import ChildRun
from lernkurve.tracking.lrcurve import DIVERGE_RATIO, stop_reason, suggest_lr
from lernkurve.tracking.noise import batch_noise
from lernkurve.tracking.state import TrainingState
from lernkurve.tracking.torchdist import in_distributed_job

KEPT_TOLERANCE = 1e-9  # a winner this close to the values the race began with changed nothing
NOISE_MARGIN = 2.0  # a race changes the values it began with only for a variant whose score is
# better than theirs by more than this many standard errors of the two scores' difference


def close_unstarted(db: Any, run_id: int) -> None:
    """Child runs of trials the run never got to (it ended first) end as `stopped`."""
    try:
        with db.write() as conn:
            end_children(conn, [run_id], "stopped", "the run ended before this trial", True)
    except Exception:  # noqa: BLE001 - a full disk must not turn the run's end into a crash
        pass


class Trial:
    """What lr tests and races share: a start step, a metric, child runs and their logs."""

    kind = "trial"

    def __init__(self, run: Any, start: int, payload: dict) -> None:
        self.run = run
        self.start = start
        self.asked_by = marked(payload)  # a client's (cli, agent) command says so
        self.wanted_metric = payload.get("metric")
        self.metric: str | None = None
        self.values: dict[int, float] = {}  # step -> the metric's last value at that step
        self.child = None
        self.calls: list[tuple] = []  # the current child's log calls (a race's winner keeps them)

    def open_child(self, run_id: int, hparams: dict) -> ChildRun:
        self.child = ChildRun(self.run.db, run_id, hparams, self.start)
        self.values, self.calls = {}, []
        return self.child

    def log(self, step: int, wall: float, scalars: dict) -> None:
        """A log call of the loop while the trial runs: to the child, and noted for judging."""
        self.calls.append((step, wall, scalars))
        self.child.log_call(step, wall, scalars)
        if self.metric is None:
            self.metric = pick_metric(scalars, self.wanted_metric)
        if self.metric in scalars:
            value = number(scalars[self.metric])
            if value is not None:
                self.values[step] = value

    def close_child(self, status: str = "completed", error: str | None = None) -> None:
        if self.child is not None:
            self.child.end(status, error)

    def abort(self, reason: str) -> None:
        """End early (stop asked, or the loop ended): back to where the trial started."""
        self.state.restore()
        self.close_child("stopped", reason)


class LrTest(Trial):
    """lr rising exponentially from min to max over `steps` steps, then everything restored."""

    kind = "lr_test"

    def __init__(self, run: Any, start: int, payload: dict) -> None:
        super().__init__(run, start, payload)
        self.min_lr, self.max_lr = float(payload["min_lr"]), float(payload["max_lr"])
        self.steps = int(payload["steps"])
        self.lrs: list[float] = []
        self.stopped_because: str | None = None
        self.state = TrainingState(run)
        self.open_child(payload["run_id"], run.hparams)
        self._set_lr(0)

    def lr_at(self, index: int) -> float:
        span = max(1, self.steps - 1)
        return self.min_lr * (self.max_lr / self.min_lr) ** (index / span)

    def _set_lr(self, index: int) -> None:
        lr = self.lr_at(index)
        self.lrs.append(lr)
        self.run.steering.set_lr(lr, "override")

    def boundary(self, step: int) -> int | None:
        """Called before ``step`` runs: the next trial step, or None when the test is over."""
        index = step - self.start
        if index >= self.steps:
            return None
        self.stopped_because = stop_reason(self._losses(), self.steps)
        if self.stopped_because is not None:
            return None
        self._set_lr(index)
        return step

    def _losses(self) -> list[float | None]:
        """The metric at each trial step so far (None: that step logged none)."""
        return [self.values.get(self.start + i) for i in range(len(self.lrs))]

    def finish(self) -> dict:
        """Restore the state from before the test; the result for the `lr_test` event."""
        self.state.restore()
        losses = self._losses()
        count = min(len(self.lrs), len(losses))
        lrs, losses = self.lrs[:count], losses[:count]
        self.close_child()
        return {
            "lrs": lrs,
            "losses": [v if v is not None and math.isfinite(v) else None for v in losses],
            **suggest_lr(lrs, losses).payload(),
            "metric": self.metric,
            "run_id": self.child.id,
            "steps": count,
            "planned_steps": self.steps,
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "stopped_because": self.stopped_because,
            "diverge_ratio": DIVERGE_RATIO,
        }


class Race(Trial):
    """Variants trained one after another from one copy; the run goes on from the winner."""

    kind = "race"

    def __init__(self, run: Any, start: int, payload: dict) -> None:
        super().__init__(run, start, payload)
        self.variants: list[dict] = payload["variants"]
        self.run_ids: list[int] = payload["run_ids"]
        self.steps = int(payload["steps"])
        self.scored_over = max(1, self.steps // 5)  # a variant's score: its last values' mean
        self.mode = payload.get("mode", "min")
        self.state = TrainingState(run)
        self.results: list[dict] = []
        self.best: tuple[float, int, TrainingState, list] | None = None
        self.index = 0
        self._begin_variant()

    def _begin_variant(self) -> None:
        variant = self.variants[self.index]
        self.run.set_hparams(variant, "scale")
        self.open_child(self.run_ids[self.index], self.run.hparams)

    def boundary(self, step: int) -> int | None:
        if step - self.start < self.steps:
            return step
        self._end_variant()
        self.index += 1
        if self.index == len(self.variants):
            return None
        self.state.restore()
        self._begin_variant()
        return self.start

    def _score(self) -> tuple[float | None, float | None]:
        """The mean of the metric over the variant's last values (None: not all finite) and
        its standard error (None: too few values to read their noise from)."""
        ordered = [self.values[s] for s in sorted(self.values)]
        scored = ordered[-self.scored_over :]
        if not scored or not all(math.isfinite(v) for v in scored):
            return None, None
        spread = batch_noise([v for v in ordered if math.isfinite(v)])
        error = None if spread is None else spread / math.sqrt(len(scored))
        return sum(scored) / len(scored), error

    def _end_variant(self) -> None:
        score, uncertainty = self._score()
        hparams = dict(self.variants[self.index])
        result = {"hparams": hparams, "score": score, "uncertainty": uncertainty}
        result["run_id"] = self.child.id
        self.results.append(result)
        self.close_child()
        if score is None:
            return
        better = self.best is None or (
            score < self.best[0] if self.mode == "min" else score > self.best[0]
        )
        if better:
            self.best = (score, self.index, TrainingState(self.run), self.calls)

    def _too_close(self, best: int, before: dict) -> int | None:
        """The variant with the values the race began with, when ``best`` beat it by no more
        than NOISE_MARGIN standard errors of their difference: the race can't tell them apart."""
        if _unchanged(before, self.variants[best]):
            return None  # they won themselves
        for index, variant in enumerate(self.variants):
            if index != best and _unchanged(before, variant):
                mine, theirs = self.results[best], self.results[index]
                errors = (mine["uncertainty"], theirs["uncertainty"])
                if theirs["score"] is None or None in errors:
                    return None  # it diverged, or too few values to tell
                margin = abs(mine["score"] - theirs["score"])
                return index if margin <= NOISE_MARGIN * math.hypot(*errors) else None
        return None

    def finish(self) -> dict:
        """Go on from the winner's end state; its points become the parent's too. A race too
        close to call goes on from where it began, with the values it began with."""
        before = {k: self.state.hparams.get(k) for v in self.variants for k in v}
        winner = None if self.best is None else self.best[1]
        current = None if winner is None else self._too_close(winner, before)
        if winner is None or current is not None:  # none scored, or no evidence for a change
            self.state.restore()
            winner, end = current, self.start
        else:
            _, _, state, calls = self.best
            state.restore()
            end = self.start + self.steps
            self.run.buffer.points.extend(calls)
        return {
            "results": self.results,
            "winner": winner,
            "kept": winner is not None and _unchanged(before, self.variants[winner]),
            "too_close": current is not None,
            "noise_margin": NOISE_MARGIN,
            "before": before,
            "metric": self.metric,
            "mode": self.mode,
            "scored_over": self.scored_over,
            "steps": self.steps,
            "end_step": end,
        }


def _unchanged(before: dict, values: dict) -> bool:
    """Whether values are those the race began with: a winner that changes nothing is kept."""
    return all(_same(before.get(k), v) for k, v in values.items())


def _same(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return math.isclose(a, b, rel_tol=KEPT_TOLERANCE, abs_tol=0.0)
    return a == b


class TrialHost:
    """A run's trials: one at a time, started by a command at a boundary; while it runs, the
    loop's steps are its steps, and when it ends the run goes on where it says."""

    kinds = {"lr_test": LrTest, "race": Race}

    def __init__(self, run: Any) -> None:
        self.run = run

    def start(self, kind: str, step: int, payload: dict) -> None:
        run, cls = self.run, self.kinds[kind]
        reason = self.why_not()
        if reason is None:
            run.trial = cls(run, step, payload)
            run.move_to(step)
            return
        children = [payload.get("run_id")] if kind == "lr_test" else payload.get("run_ids") or []
        for child_id in children:  # tell the page why its child runs never started
            ChildRun(run.db, child_id, run.hparams, step).end("failed", reason)
        run.event("note", {"message": f"{kind.replace('_', ' ')}: {reason}"}, step)

    def why_not(self) -> str | None:
        run = self.run
        if run.commands.stopping:
            return "the run is stopping"
        if run.trial is not None:
            return "another trial is running"
        if run.model is None or run.steering is None:
            return "needs run.watch(model, optimizer) in the script"
        if in_distributed_job():
            return "not available in distributed jobs yet"
        return None

    def boundary(self, step: int) -> int:
        """The step the loop runs next; ends the trial (restoring state) when it is done."""
        run, trial = self.run, self.run.trial
        next_step = trial.boundary(step)
        if next_step is not None:
            return next_step
        run.trial = None
        result = trial.finish()
        run.event(trial.kind, {**result, **trial.asked_by}, trial.start)
        if trial.kind == "race" and result["winner"] is not None and not result["kept"]:
            winner = result["results"][result["winner"]]
            changes = {k: [result["before"][k], v] for k, v in winner["hparams"].items()}
            run.event("hparams", {"changes": changes, "mode": "scale", "by": "race"}, trial.start)
            run.lr_record.snapshot()
        run.commands.replay_deferred()
        return result.get("end_step", trial.start)

    def abort(self, reason: str) -> None:
        """End a trial early (stop, the loop's end): back to where it started."""
        run, trial = self.run, self.run.trial
        if trial is None:
            return
        run.trial = None
        trial.abort(reason)
        run.move_to(trial.start)
        message = f"{trial.kind.replace('_', ' ')} ended early: {reason}"
        run.event("note", {"message": message}, trial.start)
