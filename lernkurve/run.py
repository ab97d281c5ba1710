"""A training run as the training loop sees it: cheap logging plus obedience between steps.

The loop's thread only appends to memory (``log``) and checks one flag between steps
(``between_steps``). The process's writer thread (lernkurve.writer) moves points to the
database and hands over commands; they take effect at the next step boundary, where each
applied command becomes an event carrying that step.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any

from database import Database, now
from lernkurve import writer

OPTIMIZER_KEYS = ("lr", "momentum", "weight_decay")


BACKLOG_WAKE = 8192  # log calls waiting before the writer is woken early


def _drain(queue: deque, limit: int | None = None) -> list:
    count = len(queue) if limit is None else min(limit, len(queue))
    return [queue.popleft() for _ in range(count)]


class Run:
    """One run's live state; create with ``Run(db, run_id, ...)`` for an existing runs row."""

    def __init__(
        self,
        db: Database,
        run_id: int,
        hparams: dict,
        *,
        step: int = 0,
        total_steps: int | None = None,
        checkpoint_dir: Path | None = None,
    ) -> None:
        self.db = db
        self.id = run_id
        self.hparams = dict(hparams)
        self.step = step
        self.total_steps = total_steps
        self.status = "running"
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.model = None
        self.optimizer = None
        self.extra_state: dict = {}  # loop position etc., saved with each checkpoint
        self.resume_from: str | None = None  # a checkpoint that watch() loads
        self._points: deque = deque()
        self._outbox: deque = deque()
        self._ended: dict[str, Any] = {"ended_at": None, "error": None}
        self._inbox: deque = deque()  # (command_id, kind, payload) from the writer thread
        self._seen_commands: set[int] = set()
        self._signal = False  # fast-path flag: something is waiting in the inbox
        self._paused = False
        self._step_budget = 0
        self._stopping = False
        self._diverged = False
        self._cond = threading.Condition()
        self._writer = writer.register(self)
        atexit.register(self._at_exit)

    # -- the training thread ------------------------------------------------------------------

    def log(self, data: dict | int | None = None, /, step: int | None = None, **scalars) -> None:
        """Record scalars at a step (default: the current step); only appends to memory."""
        if data is not None:
            if isinstance(data, dict):
                scalars = {**data, **scalars}  # a copy: callers often reuse one dict
            else:
                step = data
        points = self._points
        points.append((self.step if step is None else step, time.time(), scalars))
        if len(points) == BACKLOG_WAKE:  # once per crossing: waking costs a lock
            self._writer.wake()

    @property
    def config(self) -> dict:
        """The live hyperparameters: a value changed in the app shows here between steps."""
        return self.hparams

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.finish()
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("stopped")
        else:
            self.fail(exc)

    def watch(self, model=None, optimizer=None) -> None:
        """Let live lr/momentum/weight_decay flow into the optimizer; checkpoints hold both.

        A resumed run loads the checkpoint's model and optimizer state here.
        """
        self.model, self.optimizer = model, optimizer
        if self.resume_from:
            import torch

            state = torch.load(self.resume_from, weights_only=False)
            if model is not None and state.get("model") is not None:
                model.load_state_dict(state["model"])
            if optimizer is not None and state.get("optimizer") is not None:
                optimizer.load_state_dict(state["optimizer"])
                self._apply_to_optimizer(self.hparams)
            self.extra_state = state.get("extra") or {}

    def between_steps(self, step: int) -> bool:
        """Apply commands before ``step`` runs; block while paused. False means: stop now."""
        self.step = step
        if self._signal or self._paused:
            self._obey(step)
        if self._step_budget:
            self._step_budget -= 1
        return not self._stopping

    def steps(self, total: int | None = None, start: int | None = None):
        """Yield step numbers, obeying pause/step/stop between them; ends early on stop."""
        step = self.step if start is None else start
        if total is not None:
            self.total_steps = total
        while total is None or step < total:
            if not self.between_steps(step):
                return
            yield step
            step += 1
            self.step = step

    def snapshot(self, kind: str, payload: dict, step: int | None = None) -> None:
        """Record a small structured picture of the run (e.g. a decision boundary)."""
        item = {"step": self.step if step is None else step, "kind": kind, "payload": payload}
        self._outbox.append(("snapshot", {**item, "wall_time": now()}))

    def event(self, kind: str, payload: dict | None = None, step: int | None = None) -> None:
        item = {"step": self.step if step is None else step, "kind": kind, "payload": payload or {}}
        self._outbox.append(("event", {**item, "wall_time": now()}))

    def save_checkpoint(self, step: int | None = None) -> Path:
        """Save model and optimizer state to the data directory and record it."""
        import torch  # the webserver never gets here; keep its start fast

        step = self.step if step is None else step
        folder = self._checkpoint_folder()
        path = folder / f"step-{step:09d}.pt"
        state = {
            "step": step,
            "hparams": dict(self.hparams),
            "model": self.model.state_dict() if self.model is not None else None,
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "extra": dict(self.extra_state),
        }
        partial = path.with_suffix(".part")
        torch.save(state, partial)
        partial.replace(path)  # a crash mid-save never leaves a torn checkpoint behind
        self._outbox.append(("checkpoint", {"step": step, "path": str(path), "created_at": now()}))
        self.event("checkpoint", {"path": str(path), "step": step}, step)
        return path

    def finish(self, status: str = "completed") -> None:
        """End the run (completed unless it was stopped) and flush everything it logged."""
        if self._stopping and status == "completed":
            status = "stopped"
        self._end(status)

    def fail(self, exc: BaseException) -> None:
        """Mark the run failed with the exception's message and traceback."""
        message = f"{type(exc).__name__}: {exc}"
        trace = "".join(traceback.format_exception(exc))
        self.event("error", {"message": message, "traceback": trace})
        self._end("failed", error=message)

    # -- the writer thread --------------------------------------------------------------------

    def take_pending(self, limit: int | None = None) -> dict:
        """What the writer should write now: up to ``limit`` log calls, events, the row."""
        row = {
            "status": self.status,
            "step": self.step,
            "total_steps": self.total_steps,
            "hparams": dict(self.hparams),
            "heartbeat_at": now(),
            **self._ended,
        }
        points = _drain(self._points, limit)
        more = bool(self._points)
        return {"points": points, "outbox": _drain(self._outbox), "row": row, "more": more}

    def give_back(self, batch: dict) -> None:
        """Put a batch whose write failed back in front, so nothing is lost."""
        self._points.extendleft(reversed(batch["points"]))
        self._outbox.extendleft(reversed(batch["outbox"]))

    def receive_command(self, command_id: int, kind: str, payload: dict) -> None:
        if command_id in self._seen_commands:
            return
        self._seen_commands.add(command_id)
        self._post((command_id, kind, payload or {}))

    def on_non_finite(self, step: int, key: str, value: float) -> None:
        """A NaN/inf loss pauses the run (once) and records a `diverged` event at its step."""
        if "loss" in key and not self._diverged:
            self._diverged = True
            self._post((None, "diverged", {"key": key, "value": str(value), "step": step}))

    def _post(self, item: tuple) -> None:
        with self._cond:
            self._inbox.append(item)
            self._signal = True
            self._cond.notify_all()

    # -- applying commands (training thread) ----------------------------------------------------

    def _obey(self, step: int) -> None:
        with self._cond:
            while True:
                while self._inbox:
                    self._apply(step, *self._inbox.popleft())
                self._signal = False
                if self._stopping or not self._paused or self._step_budget:
                    break
                self.status = "paused"
                self._cond.wait(0.5)
            if not self._stopping:
                self.status = "running" if not self._paused else "paused"

    def _apply(self, step: int, command_id: int | None, kind: str, payload: dict) -> None:
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(step, payload)
        if command_id is not None:
            self._outbox.append(("ack", {"id": command_id, "at": now()}))

    def _on_hparams(self, step: int, payload: dict) -> None:
        changes = {
            k: [self.hparams.get(k), v] for k, v in payload.items() if self.hparams.get(k) != v
        }
        if not changes:
            return
        self.hparams.update(payload)
        self._apply_to_optimizer(payload)
        self.event("hparams", {"changes": changes}, step)

    def _apply_to_optimizer(self, values: dict) -> None:
        if self.optimizer is None:
            return
        for group in self.optimizer.param_groups:
            for key in OPTIMIZER_KEYS:
                if key in values and key in group:
                    group[key] = values[key]
            if "momentum" in values and "betas" in group:  # Adam: momentum is beta1
                group["betas"] = (values["momentum"], group["betas"][1])

    def _on_pause(self, step: int, payload: dict) -> None:
        if not self._paused:
            self._paused = True
            self.event("pause", {}, step)

    def _on_diverged(self, step: int, payload: dict) -> None:
        self._paused = True
        self.event("diverged", payload, payload.get("step", step))

    def _on_resume(self, step: int, payload: dict) -> None:
        if self._paused:
            self._paused = False
            self._step_budget = 0
            self.event("resume", {}, step)

    def _on_step(self, step: int, payload: dict) -> None:
        self._paused = True
        self._step_budget = 1
        self.event("step", {}, step)

    def _on_stop(self, step: int, payload: dict) -> None:
        self._stopping = True
        self.event("stop", {}, step)

    def _on_checkpoint(self, step: int, payload: dict) -> None:
        try:
            self.save_checkpoint(step)
        except OSError as err:  # a full disk costs the checkpoint, not the run
            self.event("note", {"message": f"checkpoint failed: {err}"}, step)

    # -- ending -------------------------------------------------------------------------------

    def _checkpoint_folder(self) -> Path:
        from database import data_dir

        base = self.checkpoint_dir or data_dir() / "checkpoints"
        folder = base / f"run-{self.id}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _at_exit(self) -> None:
        """A script that ends without finish(): keep its last points and say how it ended."""
        crash = getattr(sys, "last_value", None)  # set when an uncaught exception ends Python
        if crash is not None:
            self.fail(crash)
        else:
            self.finish()

    def _end(self, status: str, error: str | None = None) -> None:
        atexit.unregister(self._at_exit)
        self._ended = {"ended_at": now(), "error": error}  # before status: flushed together
        self.status = status
        self._writer.unregister(self)  # also closes commands that came after the last step
