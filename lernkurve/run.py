"""A training run as the training loop sees it: cheap logging plus obedience between steps.

The loop's thread only appends to memory (``log``) and checks one flag between steps
(``between_steps``). The process's writer thread (lernkurve.writer) moves points to the
database and hands over commands; they take effect at the next step boundary, where each
applied command becomes an event carrying that step.
"""

from __future__ import annotations

import atexit
import math
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lernkurve import resume, writer
from lernkurve.checkpoints import checkpoint_root
from lernkurve.db import Database, now
from lernkurve.livevalues import LiveConfig, read_now
from lernkurve.resume import ResumePlan
from lernkurve.retention import KEEP_LAST
from lernkurve.steering import GROUP_KEYS, OptimizerSteering
from lernkurve.wrapped import real_module, real_optimizer

# The optimizer setting a live key steers; run.watch(..., map=...) adds a script's own names.
DEFAULT_KEY_MAP = {"lr": "lr", "momentum": "momentum", "weight_decay": "weight_decay"}


# Commands a trial takes at once (stop ends it; pause holds it); the others wait for its end.
TRIAL_COMMANDS = ("stop", "pause", "resume", "step", "diverged")
FOLLOW_EVERY = 0.5  # seconds between optimizer snapshots that only follow a schedule
MAX_TEXT = 100_000  # characters of one text sample
BACKLOG_WAKE = 8192  # log calls waiting before the writer is woken early


def _drain(queue: deque, limit: int | None = None) -> list:
    count = len(queue) if limit is None else min(limit, len(queue))
    return [queue.popleft() for _ in range(count)]


def _in_distributed_job() -> bool:
    distributed = sys.modules.get("torch.distributed")
    return bool(distributed and distributed.is_initialized() and distributed.get_world_size() > 1)


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
        self.hparams = LiveConfig(hparams)
        self.step = step
        self.checkpoint_every: int | None = None  # save at every N-th step boundary
        # Which of its own checkpoint files the run keeps (lernkurve.retention).
        self.retention: dict = {"keep_last": KEEP_LAST, "keep_best": None, "mode": "min"}
        self.total_steps = total_steps
        self.status = "running"
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.model = None
        self.optimizer = None
        self.steering: OptimizerSteering | None = None
        self.schedulers: list = []
        self._key_map = dict(DEFAULT_KEY_MAP)
        self._next_step = step  # the step the loop runs next: what a checkpoint resumes at
        self._user_lr: tuple | None = None  # (step, value) the script last logged as lr itself
        self._told_effective = False  # the note on lr vs lr/effective was given
        self._optimizer_shown: tuple[list, float] | None = None  # (lrs, time) last snapshotted
        self._warned_keys: set[str] = set()
        self.extra_state: dict = {}  # loop position etc., saved with each checkpoint
        # A framework's own checkpointing (HF Trainer, Lightning): called with the step instead
        # of save_checkpoint by the app's checkpoint command and checkpoint_every.
        self.checkpointer = None
        self._resume: ResumePlan | None = None  # a resume not settled yet (lernkurve.resume)
        self._resume_state: dict | None = None  # our checkpoint's state that watch() loads
        self._abandoned = False  # a resume whose state did not fit: the row was put back
        self._points: deque = deque()
        self._outbox: deque = deque()
        self._ended: dict[str, Any] = {"ended_at": None, "error": None}
        self.ended = threading.Event()  # set when the run ends (samplers stop on it)
        self._inbox: deque = deque()  # (command_id, kind, payload) from the writer thread
        self._seen_commands: set[int] = set()
        self._signal = False  # fast-path flag: something is waiting in the inbox
        self._paused = False
        self._step_budget = 0
        self._stopping = False
        self._diverged = False
        self._cond = threading.Condition()
        self.trial = None  # an lr test or race in progress (lernkurve.trials)
        self.autopilot = None  # opt-in rules acting between steps (lernkurve.autopilot)
        self._recipe: deque = deque()  # (step, kind, payload) a replayed recipe applies
        self._deferred: list = []  # commands that wait for a trial to end
        self._writer = self._register()
        atexit.register(self._at_exit)

    def _register(self):
        """The writer that takes this run's points (lernkurve.distributed: none on ranks > 0)."""
        return writer.register(self)

    # -- the training thread ------------------------------------------------------------------

    def log(self, data: dict | int | None = None, /, step: int | None = None, **scalars) -> None:
        """Record scalars at a step (default: the current step); only appends to memory."""
        if data is not None:
            if isinstance(data, dict):
                scalars = {**data, **scalars}  # a copy: callers often reuse one dict
            else:
                step = data
        if self._resume is not None:  # logging commits to the resume (nothing was loaded)
            self._settle_resume()
        read_now(scalars)
        step = self.step if step is None else step
        if "lr" in scalars:
            self._user_lr = (step, scalars["lr"])
        if self.trial is not None:  # what a trial's steps log belongs to its child run
            self.trial.log(step, time.time(), scalars)
            return
        if self.autopilot is not None:
            self.autopilot.observe(step, scalars)
        points = self._points
        points.append((step, time.time(), scalars))
        if len(points) == BACKLOG_WAKE:  # once per crossing: waking costs a lock
            self._writer.wake()
        if len(points) >= self.pending_limit:  # the bound on unwritten points: see writer.py
            self._writer.backpressure(self)

    def log_after_end(self, scalars: dict, step: int | None = None) -> None:
        """Record scalars of a run that has ended, written at once: an evaluation after
        training (Lightning's ``trainer.test()``, HF's ``trainer.evaluate()``)."""
        if self._abandoned or self.db is None:
            return
        scalars = dict(scalars)
        read_now(scalars)
        writer.write_now(
            self.db, self.id, [(self.step if step is None else step, time.time(), scalars)]
        )

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
            self._finish_interrupted()
        else:
            self.fail(exc)

    def watch(
        self,
        model=None,
        optimizer=None,
        scheduler=None,
        map: dict | None = None,
        log_grads: int | None = None,
        log_histograms: int | None = None,
    ) -> None:
        """Steer the optimizer live (lr against its schedule, groups kept); checkpoint both.

        Wrapped objects are fine: accelerate's prepared optimizer (or any wrapper holding the
        optimizer as ``.optimizer``), a ``torch.compile``d or DDP-wrapped model.

        ``scheduler``: a torch LR scheduler (or a list) the script steps; ``map``: the
        script's own config names for optimizer settings, e.g. ``{"lr_max": "lr"}``.
        A resumed run loads the checkpoint's model, optimizer and scheduler state here.
        ``log_grads=N``: gradient norms (total and per parameter) and update/weight ratios every
        N steps; ``log_histograms=M``: weight and gradient percentiles every M steps.
        """
        # Wrappers (accelerate, torch.compile, DDP) are looked through: the optimizer whose
        # step() runs the steer, the module whose weights a checkpoint holds.
        self.model = real_module(model) if model is not None else None
        self.optimizer = optimizer = real_optimizer(optimizer)
        schedulers = scheduler if isinstance(scheduler, (list, tuple)) else [scheduler]
        self.schedulers = [s for s in schedulers if s is not None]
        self._key_map.update(self._checked_map(map or {}))
        saved = self._apply_resume_state()
        if optimizer is not None:
            self.steering = OptimizerSteering(optimizer, self.schedulers, saved.get("steering"))
            self.snapshot("optimizer", self.steering.describe())
        if (log_grads or log_histograms) and model is not None and optimizer is not None:
            from lernkurve.gradhealth import GradHealth  # imports torch: only when asked for

            self.grad_health = GradHealth(self, model, optimizer, log_grads, log_histograms)
        if self._resume is not None:
            self._settle_resume()

    def _checked_map(self, mapping: dict) -> dict:
        targets = set(DEFAULT_KEY_MAP.values())
        for key, target in mapping.items():
            if target not in targets:
                raise ValueError(f"map: {key!r} must map to one of {', '.join(sorted(targets))}")
            if key not in self.hparams:
                raise ValueError(f"map: {key!r} is not a key of this run's config")
        return mapping

    # -- resuming (lernkurve.resume: all or nothing) ---------------------------------------------

    def begin_resume(self, plan: ResumePlan) -> None:
        """Go on from ``plan``'s checkpoint: its hparams and extra state now, the model's and
        optimizer's at ``watch()``; the dead process's points go only once that worked."""
        self._resume = plan
        if plan.state is not None:
            self._resume_state = plan.state
            self.hparams.update(plan.state.get("hparams") or {})
            self.extra_state = plan.state.get("extra") or {}

    @property
    def resuming(self) -> bool:
        """A resume whose checkpoint state is not in place yet: nothing of it is written."""
        return self._resume is not None

    @property
    def resume_from(self) -> str | None:
        """Our own checkpoint that ``watch()`` loads (None: none, or a framework loaded its own)."""
        plan = self._resume
        return plan.path if plan is not None and self._resume_state is not None else None

    def _apply_resume_state(self) -> dict:
        """Model, optimizer (every group exactly as saved) and schedulers from the checkpoint;
        if the script's objects refuse them before the resume settled, it is undone."""
        state, self._resume_state = self._resume_state, None
        if not state:
            return {}
        try:
            if self.model is not None and state.get("model") is not None:
                self.model.load_state_dict(state["model"])
            if self.optimizer is not None and state.get("optimizer") is not None:
                self.optimizer.load_state_dict(state["optimizer"])
            for scheduler, saved in zip(
                self.schedulers, state.get("schedulers") or [], strict=False
            ):
                scheduler.load_state_dict(saved)
        except Exception as exc:
            if self._resume is None:  # the script logged before watch(): it is settled
                raise
            self._abandon_resume(exc)
        return state

    def _settle_resume(self) -> None:
        plan, self._resume = self._resume, None
        if plan is not None and self.db is not None:
            resume.settle(self.db, plan)

    def _abandon_resume(self, exc: BaseException) -> None:
        """The checkpoint's state does not fit: forget this process's run, put the row back as
        it was (every point kept) and raise ResumeError with the reason."""
        plan, self._resume = self._resume, None
        self._abandoned = True
        atexit.unregister(self._at_exit)
        self.forget_pending()
        self.ended.set()
        self._writer.unregister(self)
        if self.db is not None:
            resume.restore(self.db, plan)
        raise resume.ResumeError(resume.refusal(plan, exc)) from exc

    def apply_hparams(self, values: dict) -> None:
        """Put values into the watched optimizer now (a fork's own settings, for example)."""
        self._steer(values, "scale")

    def between_steps(self, step: int) -> bool:
        """Apply commands before ``step`` runs; block while paused. False means: stop now.

        Afterwards ``self.step`` is the step the loop runs: a trial that ends here puts the
        counter back to where it started (or, after a race, past the winner's steps).
        """
        if self._resume is not None:
            self._settle_resume()
        self.step = self._next_step = step
        self.hparams.started = True
        if self.steering is not None:
            self._log_effective_lr(step - 1)
        if self.trial is not None:
            step = self.step = self._next_step = self._trial_boundary(step)
        if self.trial is None:
            self._apply_recipe(step)
            if self.autopilot is not None:
                self.autopilot.boundary(step)
        if self._signal or self._paused:
            self._obey(step)
        if self._step_budget:
            self._step_budget -= 1
        every = self.checkpoint_every
        if every and step % every == 0 and step and not self._stopping and self.trial is None:
            self._on_checkpoint(step, {})
        self._next_step = step + 1  # from here the loop body runs this step
        return not self._stopping

    def _log_effective_lr(self, step: int) -> None:
        """Log the lr the optimizer really used in the last step: as ``lr``, or as
        ``lr/effective`` beside a script's own ``lr`` (which may be the unsteered schedule)."""
        effective = self.steering.used
        if not effective or step < 0:
            return
        self.steering.used = []
        first = effective[0]  # groups with their own lr (layer-wise, no-decay) get a series
        values = {f"lr/group{i}": lr for i, lr in enumerate(effective) if i and lr != first}
        if self._user_lr is None:
            values["lr"] = first
        else:
            values["lr/effective"] = first
            self._explain_effective(step, first)
        if self.trial is not None:
            self.trial.log(step, time.time(), values)
            return
        self._points.append((step, time.time(), values))
        if "lr" in self.hparams:
            self.hparams["lr"] = first
        self._follow_optimizer()

    def _explain_effective(self, step: int, used: float) -> None:
        """Once: the script's own lr differs from what the optimizer used (a steer)."""
        logged_at, logged = self._user_lr
        if self._told_effective or logged_at != step or not isinstance(logged, (int, float)):
            return
        if math.isclose(logged, used, rel_tol=1e-9, abs_tol=0.0):
            return
        self._told_effective = True
        message = (
            f"this script logs lr itself ({logged:.4g} at step {step}), the value its schedule "
            f"computed; the optimizer used {used:.4g} (Lernkurve's steer). Both are drawn: lr "
            "as logged, lr/effective as used."
        )
        self.event("note", {"message": message, "key": "lr/effective"}, step)

    def _follow_optimizer(self, force: bool = False) -> None:
        """A new optimizer snapshot when its lrs moved (a schedule), at most every
        FOLLOW_EVERY seconds; ``force``: now, if anything moved (the run ends)."""
        lrs = list(self.steering.effective)
        shown = self._optimizer_shown
        if shown is not None and shown[0] == lrs:
            return
        if shown is not None and not force and time.monotonic() - shown[1] < FOLLOW_EVERY:
            return
        self._snapshot_optimizer()

    def steps(self, total: int | None = None, start: int | None = None):
        """Yield step numbers, obeying pause/step/stop between them; ends early on stop."""
        step = self.step if start is None else start
        if total is not None:
            self.total_steps = total
        while total is None or step < total or self.trial is not None:
            if not self.between_steps(step):
                return
            step = self.step  # a trial that ended here moved the counter
            if total is not None and step >= total and self.trial is None:
                break  # a race's winner ran the last steps
            yield step
            step += 1
            self.step = step
        if self.steering is not None:
            self._log_effective_lr(step - 1)  # the last step has no boundary after it

    def snapshot(self, kind: str, payload: dict, step: int | None = None) -> None:
        """Record a small structured picture of the run (e.g. a decision boundary)."""
        if self.trial is not None:
            return  # a picture of a trial's state would mislead on the run's own charts
        item = {"step": self.step if step is None else step, "kind": kind, "payload": payload}
        self._outbox.append(("snapshot", {**item, "wall_time": now()}))

    def log_text(self, key: str, text: str, step: int | None = None) -> None:
        """Record a text sample (e.g. what a language model generates) at a step."""
        self.snapshot("text", {"key": str(key)[:100], "text": str(text)[:MAX_TEXT]}, step)

    def event(self, kind: str, payload: dict | None = None, step: int | None = None) -> None:
        item = {"step": self.step if step is None else step, "kind": kind, "payload": payload or {}}
        self._outbox.append(("event", {**item, "wall_time": now()}))

    def save_checkpoint(self, step: int | None = None) -> Path:
        """Save model, optimizer and schedule state beside the database and record it.

        ``step`` is the step a resume starts at; by default the next one (called in the loop
        body after the update: this step is done).
        """
        import torch  # the webserver never gets here; keep its start fast

        step = self._next_step if step is None else step
        folder = self._checkpoint_folder()
        path = folder / f"step-{step:09d}.pt"
        state = {
            "step": step,
            "hparams": dict(self.hparams),
            "model": self.model.state_dict() if self.model is not None else None,
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "schedulers": [scheduler.state_dict() for scheduler in self.schedulers],
            "steering": self.steering.state_dict() if self.steering is not None else None,
            "extra": dict(self.extra_state),
        }
        partial = path.with_suffix(".part")
        torch.save(state, partial)
        partial.replace(path)  # a crash mid-save never leaves a torn checkpoint behind
        self.record_checkpoint(path, step, managed=True)
        return path

    def record_checkpoint(self, path: str | Path, step: int, managed: bool = False) -> None:
        """List a saved checkpoint at ``step``: a framework's own file or folder, or with
        ``managed`` one Lernkurve wrote, which the run's retention may delete later."""
        item = {"step": step, "path": str(path), "created_at": now(), "managed": managed}
        if managed:
            item["retain"] = dict(self.retention)
        self._outbox.append(("checkpoint", item))
        self.event("checkpoint", {"path": str(path), "step": step}, step)

    def finish(self, status: str = "completed") -> None:
        """End the run (completed unless it was stopped) and flush everything it logged."""
        if self._stopping and status == "completed":
            status = "stopped"
        self._abort_trial("the training loop ended")
        self._last_lr()
        self._end(status)

    def _last_lr(self) -> None:
        """The last step's lr (no boundary followed it) and the optimizer as it ended."""
        if self.steering is not None and not self._abandoned:
            self._log_effective_lr(self._next_step - 1)
            self._follow_optimizer(force=True)

    def fail(self, exc: BaseException) -> None:
        """Mark the run failed with the exception's message and traceback."""
        message = f"{type(exc).__name__}: {exc}"
        trace = "".join(traceback.format_exception(exc))
        self.event("error", {"message": message, "traceback": trace})
        self._abort_trial(message)
        self._last_lr()
        self._end("failed", error=message)

    # -- the writer thread --------------------------------------------------------------------

    pending_limit = 1 << 62  # log calls that may wait unwritten; the writer sets the figure
    gone = False  # the run's row was deleted in the app: its points are no longer kept

    def take_pending(self, max_points: int | None = None) -> dict:
        """What the writer should write now: log calls up to ``max_points`` points, events, row."""
        status = self.status  # read before _ended: _end sets _ended first
        trial = self.trial
        row = {
            "status": status,
            "step": self.step if trial is None else trial.start,
            "total_steps": self.total_steps,
            "hparams": dict(self.hparams) if trial is None else dict(trial.state.hparams),
            **self._ended,
        }
        if max_points is None:
            points = _drain(self._points)
        else:
            points, count, queue = [], 0, self._points
            while queue and count < max_points:
                points.append(queue.popleft())
                count += len(points[-1][2])
        more = bool(self._points)
        return {"points": points, "outbox": _drain(self._outbox), "row": row, "more": more}

    def give_back(self, batch: dict) -> None:
        """Put a batch whose write failed back in front, so nothing is lost."""
        self._points.extendleft(reversed(batch["points"]))
        self._outbox.extendleft(reversed(batch["outbox"]))

    def pending_points(self) -> deque:
        return self._points

    def pending_point_count(self) -> int:
        """About how many points wait unwritten (log calls times the first call's scalars)."""
        queue = self._points
        try:
            return len(queue) * len(queue[0][2])
        except IndexError:  # emptied meanwhile
            return 0

    def drop_oldest(self, count: int) -> list:
        """Remove the ``count`` oldest unwritten log calls (the database refuses them)."""
        return _drain(self._points, count)

    def forget_pending(self, gone: bool = False) -> None:
        """Discard what waits; a gone run also keeps nothing it logs from now on."""
        if gone:
            self.gone = True
            self._points = deque(maxlen=0)
            self._outbox = deque(maxlen=0)
        self._points.clear()
        self._outbox.clear()

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
        if self.trial is not None and kind not in TRIAL_COMMANDS:
            self._deferred.append((command_id, kind, payload))  # applied once the trial ends
            return
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(step, payload)
        if command_id is not None:
            self._outbox.append(("ack", {"id": command_id, "at": now()}))

    def _on_hparams(self, step: int, payload: dict) -> None:
        payload = dict(payload)
        mode = payload.pop("lr_mode", "scale")
        source = payload.pop("by", None)  # a recipe's or the autopilot's change says so
        details = self.set_hparams(payload, mode)
        if details is None:
            return
        for key in details["changes"]:
            self._warn_if_unused(key, step)
        self.event("hparams", {**details, **({"by": source} if source else {})}, step)

    def set_hparams(self, values: dict, mode: str = "scale") -> dict | None:
        """Change live values (the optimizer's too) now; the event's details, None if no change.

        A value may be ``{"scale": f}``: the value as it stands when the change lands, times f
        (for a steered lr: its schedule's factor times f, exactly).
        """
        live = self.hparams
        scales = {k: float(v["scale"]) for k, v in values.items() if isinstance(v, dict)}
        wanted = {k: live.peek(k) * scales[k] if k in scales else v for k, v in values.items()}
        changes = {k: [live.peek(k), v] for k, v in wanted.items() if live.peek(k) != v}
        if not changes:
            return None
        details = self._steer({k: wanted[k] for k in changes}, mode, scales)
        for key, (_, new) in changes.items():
            self.hparams[key] = new
        if "lr" in details:
            lr = details.pop("lr")
            if "lr" in changes:  # the optimizer's own lr: as used (the schedule's, steered)
                changes["lr"] = [lr["old"], lr["new"]]
                self.hparams["lr"] = lr["new"]
            details.update({k: v for k, v in lr.items() if k not in ("old", "new")})
        if scales:
            details["asked"] = {k: {"scale": f} for k, f in scales.items() if k in changes}
        self._snapshot_optimizer()
        return {"changes": changes, **details}

    def current_lr(self) -> float | None:
        """The lr the optimizer uses now (the steered one), else the live config's."""
        if self.steering is not None:
            return self.steering.current_lr()
        return self.hparams.peek("lr")

    def _steer(self, values: dict, mode: str, scales: dict | None = None) -> dict:
        """Apply changed values to the watched optimizer; returns details for the event."""
        if self.steering is None:
            return {}
        details, scales = {}, scales or {}
        for key, new in values.items():
            target = self._key_map.get(key)
            if target == "lr":
                old = self.hparams.peek(key)
                relative = scales.get(key)
                if relative is None and key != "lr" and mode != "override" and old:
                    relative = new / old  # the script's own name for lr: its ratio steers
                details["lr"] = self.steering.set_lr(new, mode, relative)
            elif target in GROUP_KEYS:
                self.steering.set_group_value(target, new)
        return details

    def _warn_if_unused(self, key: str, step: int) -> None:
        """A live key that steers no optimizer and that the loop never reads does nothing."""
        if key in self._key_map and self.steering is not None or key in self.hparams.read_keys:
            return
        if key in self._warned_keys:
            return
        self._warned_keys.add(key)
        message = (
            f"{key} changed, but nothing uses it: the script has not read run.config[{key!r}] "
            f"since training started and no optimizer setting is tied to it "
            f"(run.watch(model, optimizer, map={{{key!r}: 'lr'}}) ties it to one)"
        )
        print(f"lernkurve: {message}", file=sys.stderr)
        self.event("note", {"message": message, "key": key}, step)

    def _on_release(self, step: int, payload: dict) -> None:
        if self.steering is None or self.steering.mode != "override":
            message = "release: lr is not pinned, so there is nothing to release"
            self.event("note", {"message": message}, step)
            return
        details = self.steering.release()
        if "lr" in self.hparams:
            self.hparams["lr"] = details["new"]
        changes = {"lr": [details.pop("old"), details.pop("new")]}
        source = {"by": payload["by"]} if payload.get("by") else {}
        self.event("hparams", {"changes": changes, **details, **source}, step)
        self._snapshot_optimizer()

    def _snapshot_optimizer(self) -> None:
        if self.steering is not None:
            self._optimizer_shown = (list(self.steering.effective), time.monotonic())
            self.snapshot("optimizer", self.steering.describe())

    def _on_pause(self, step: int, payload: dict) -> None:
        if not self._paused:
            self._paused = True
            self.event("pause", {}, step)

    def _on_diverged(self, step: int, payload: dict) -> None:
        if self.autopilot is not None and self.autopilot.handles_divergence():
            self._diverged = False  # the autopilot restores; a later divergence counts again
        else:
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
        self._abort_trial("stopped")
        self._stopping = True
        self.event("stop", {}, step)

    # -- trials, autopilot and recipes (lernkurve.trials, .autopilot, .recipes) -----------------

    def _on_lr_test(self, step: int, payload: dict) -> None:
        from lernkurve.trials import LrTest

        self._start_trial(LrTest, step, payload, [payload.get("run_id")])

    def _on_race(self, step: int, payload: dict) -> None:
        from lernkurve.trials import Race

        self._start_trial(Race, step, payload, payload.get("run_ids") or [])

    def _start_trial(self, cls, step: int, payload: dict, child_ids: list) -> None:
        reason = self._why_no_trial()
        if reason is None:
            self.trial = cls(self, step, payload)
            self.step = self._next_step = step
            return
        for child_id in child_ids:  # tell the page why its child runs never started
            Run(self.db, child_id, dict(self.hparams), step=step)._end("failed", error=reason)
        self.event("note", {"message": f"{cls.kind.replace('_', ' ')}: {reason}"}, step)

    def _why_no_trial(self) -> str | None:
        if self._stopping:
            return "the run is stopping"
        if self.trial is not None:
            return "another trial is running"
        if self.model is None or self.steering is None:
            return "needs run.watch(model, optimizer) in the script"
        if _in_distributed_job():
            return "not available in distributed jobs yet"
        return None

    def _trial_boundary(self, step: int) -> int:
        """The step the loop runs next; ends the trial (restoring state) when it is done."""
        trial = self.trial
        next_step = trial.boundary(step)
        if next_step is not None:
            return next_step
        self.trial = None
        result = trial.finish()
        self.event(trial.kind, result, trial.start)
        if trial.kind == "race" and result["winner"] is not None:
            winner = result["results"][result["winner"]]
            changes = {k: [trial.state.hparams.get(k), v] for k, v in winner["hparams"].items()}
            self.event("hparams", {"changes": changes, "mode": "scale", "by": "race"}, trial.start)
            self._snapshot_optimizer()
        self._replay_deferred()
        return result.get("end_step", trial.start)

    def _abort_trial(self, reason: str) -> None:
        trial, self.trial = self.trial, None
        if trial is not None:
            trial.abort(reason)
            self.step = self._next_step = trial.start
            self.event(
                "note",
                {"message": f"{trial.kind.replace('_', ' ')} ended early: {reason}"},
                trial.start,
            )

    def _replay_deferred(self) -> None:
        deferred, self._deferred = self._deferred, []
        for item in deferred:
            self._post(item)

    def _on_autopilot(self, step: int, payload: dict) -> None:
        from lernkurve.autopilot import Autopilot

        if _in_distributed_job():  # its decisions would be rank 0's alone: replicas diverge
            message = "autopilot: not available in distributed jobs yet"
            self.event("note", {"message": message}, step)
            return
        if payload.get("undo"):
            if self.autopilot is not None:
                self.autopilot.undo(step)
            return
        if not payload.get("enabled"):
            self.autopilot = None
        elif self.autopilot is None:
            self.autopilot = Autopilot(self, payload)
        else:
            self.autopilot.configure(payload)
        self.event(
            "autopilot", {"enabled": bool(payload.get("enabled")), "settings": payload}, step
        )

    def load_recipe(self, recipe: dict | None) -> None:
        """Replay a recipe (lernkurve.recipes): each command at its step, from this step on."""
        entries = (recipe or {}).get("steps") or []
        self._recipe = deque(
            (e["step"], e["command"]["kind"], e["command"].get("payload") or {})
            for e in sorted(entries, key=lambda e: e["step"])
            if e["step"] >= self.step
        )

    def _apply_recipe(self, step: int) -> None:
        recipe = self._recipe
        while recipe and recipe[0][0] <= step:
            _, kind, payload = recipe.popleft()
            self._apply(step, None, kind, {**payload, "by": "recipe"})

    def _on_checkpoint(self, step: int, payload: dict) -> None:
        try:
            if self.checkpointer is not None:
                self.checkpointer(step)
                return
            self.save_checkpoint(step)
        except OSError as err:  # a full disk costs the checkpoint, not the run
            self.event("note", {"message": f"checkpoint failed: {err}"}, step)

    # -- ending -------------------------------------------------------------------------------

    def _checkpoint_folder(self) -> Path:
        base = self.checkpoint_dir or checkpoint_root(self.db)
        folder = base / f"run-{self.id}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _at_exit(self) -> None:
        """A script that ends without finish(): keep its last points and say how it ended."""
        crash = getattr(sys, "last_value", None)  # set when an uncaught exception ends Python
        if isinstance(crash, KeyboardInterrupt):
            self._finish_interrupted()
        elif crash is not None:
            self.fail(crash)
        else:
            self.finish()

    def _finish_interrupted(self) -> None:
        """End a run stopped by Ctrl-C; one more Ctrl-C meanwhile says so instead of cutting
        the last save short (a terminal and a wrapper such as `timeout` both send one)."""
        with ctrl_c_waits(f"lernkurve: saving run {self.id}'s last points; Ctrl-C again quits now"):
            self.finish("stopped")

    def _end(self, status: str, error: str | None = None) -> None:
        if self._abandoned:
            return  # never resumed: the row was put back as it was
        if self._resume is not None:
            self._settle_resume()
        atexit.unregister(self._at_exit)
        self._ended = {"ended_at": now(), "error": error}  # before status: flushed together
        self.ended.set()
        self.status = status
        self._writer.unregister(self)  # also closes commands that came after the last step
        if self.model is not None:  # only a watched run can have been asked for a trial
            from lernkurve.trials import close_unstarted

            close_unstarted(self.db, self.id)


@contextmanager
def ctrl_c_waits(message: str) -> Iterator[None]:
    """Within: the first SIGINT prints ``message`` and is otherwise ignored; the next one
    raises KeyboardInterrupt as usual. Only in the main thread, and only over Python's own
    handler (a handler the script set stays in charge)."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return

    def once_more(_signum, _frame) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print(message, file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, once_more)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
