"""A training run as the training loop sees it: cheap logging plus obedience between steps.

The loop's thread only appends to memory (``log``) and looks at one flag between steps
(``between_steps``). The run is put together from parts with one job each:

- ``buffer`` (lernkurve.tracking.buffer): what the process's writer thread drains;
- ``commands`` (.commands): the app's commands, applied at the boundary, each an event there;
- ``changes`` (.changes): live hparam changes, into the optimizer through ``steering``;
- ``lr_record`` (.lrrecord): the lr each step used, and snapshots of the param groups;
- ``trials`` (.trials): an lr test or a race hosted in the loop's own steps;
- a resume from a checkpoint (.resume), settled once its state is in place.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path

from lernkurve.store.database import Database
from lernkurve.store.models import now
from lernkurve.store.retention import KEEP_LAST
from lernkurve.tracking import batches, checkpointing, resume, writer
from lernkurve.tracking.buffer import RunBuffer
from lernkurve.tracking.changes import LiveChanges
from lernkurve.tracking.commands import Commands
from lernkurve.tracking.ctrlc import ctrl_c_waits
from lernkurve.tracking.livevalues import LiveConfig, read_now, step_number
from lernkurve.tracking.lrrecord import LrRecord
from lernkurve.tracking.resuming import Resumption
from lernkurve.tracking.steering import OptimizerSteering
from lernkurve.tracking.trials import TrialHost, close_unstarted
from lernkurve.tracking.wrapped import real_module, real_optimizer

MAX_TEXT = 100_000  # characters of one text sample
BACKLOG_WAKE = 8192  # log calls waiting before the writer is woken early


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
        self.schema: dict = {}  # the hparams' types and ranges (runs.config["schema"])
        self.step = step
        self.total_steps = total_steps
        self.status = "running"
        self.checkpoint_every: int | None = None  # save at every N-th step boundary
        # Which of its own checkpoint files the run keeps (lernkurve.store.retention).
        self.retention: dict = {"keep_last": KEEP_LAST, "keep_best": None, "mode": "min"}
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        # A framework's own checkpointing (HF Trainer, Lightning): called with the step instead
        # of save_checkpoint by the app's checkpoint command and checkpoint_every.
        self.checkpointer = None
        self.extra_state: dict = {}  # loop position etc., saved with each checkpoint
        self.model = self.optimizer = self.steering = None
        self.schedulers: list = []
        self.trial = None  # an lr test or race in progress (lernkurve.tracking.trials)
        self.autopilot = None  # opt-in rules acting between steps (.autopilot)
        self.ended = threading.Event()  # set when the run ends (samplers stop on it)
        self._next_step = step  # the step the loop runs next: what a checkpoint resumes at
        self._resume: Resumption | None = None  # a resume not settled yet
        self._resumption: Resumption | None = None  # the resume, until watch() loaded it
        self._abandoned = False  # a resume whose state did not fit: the row was put back
        self.commands = self._make_commands()
        self.buffer = RunBuffer(db, run_id, self._row, self.commands)
        self.changes = LiveChanges(self)
        self.lr_record = LrRecord(self)
        self.trials = TrialHost(self)
        self._writer = self._register()
        atexit.register(self._at_exit)

    def _make_commands(self) -> Commands:
        return Commands(self)

    def _register(self):
        """The writer that takes this run's points (distributed: none on ranks > 0)."""
        return writer.register(self.buffer)

    def _row(self) -> dict:
        """What the runs row holds now (during a trial: the run as it was at its start)."""
        trial = self.trial
        return {
            "status": self.status,
            "step": self.step if trial is None else trial.start,
            "total_steps": self.total_steps,
            "hparams": dict(self.hparams) if trial is None else dict(trial.state.hparams),
        }

    # -- the training thread ------------------------------------------------------------------

    def log(self, data: dict | int | None = None, /, step: int | None = None, **scalars) -> None:
        """Record scalars at a step (default: the current step); only appends to memory."""
        if data is not None:
            if type(data) is int:
                step = data
            elif isinstance(data, Mapping):
                scalars = {**data, **scalars}  # a copy: callers often reuse one dict
            else:
                step = step_number(data)
        if step is not None and type(step) is not int:
            step = step_number(step)
        if self._resume is not None:  # logging commits to the resume (nothing was loaded)
            self._settle_resume()
        read_now(scalars)
        step = self.step if step is None else step
        if "lr" in scalars:
            self.lr_record.logged_by_script(step, scalars["lr"])
        if step == self.step and self.steering is not None and self.steering.used:
            # This step's optimizer.step() has run: its lr goes in this call rather than in
            # one of its own at the next boundary (half the calls for the writer to take).
            self.lr_record.put(step, scalars)
        if self.trial is not None:  # what a trial's steps log belongs to its child run
            self.trial.log(step, time.time(), scalars)
            return
        if self.autopilot is not None:
            self.autopilot.observe(step, scalars)
        buffer = self.buffer
        points = buffer.points
        points.append((step, time.time(), scalars))
        if len(points) == BACKLOG_WAKE:  # once per crossing: waking costs a lock
            self._writer.wake()
        if len(points) >= buffer.pending_limit:  # the bound on unwritten points: writer.py
            self._writer.backpressure(buffer)

    def log_after_end(self, scalars: dict, step: int | None = None) -> None:
        """Record scalars of a run that has ended, written at once: an evaluation after
        training (Lightning's ``trainer.test()``, HF's ``trainer.evaluate()``)."""
        if self._abandoned or self.db is None:
            return
        scalars = dict(scalars)
        read_now(scalars)
        at = self.step if step is None else step
        batches.write_now(self.db, self.id, [(at, time.time(), scalars)])

    def flush(self) -> None:
        """Write everything logged so far now (the writer does so every 50 ms by itself)."""
        while self._writer.flush(only=self.buffer):
            pass  # more than one write transaction takes

    @property
    def gone(self) -> bool:
        """The run's row was deleted in the app: nothing it logs is kept any more."""
        return self.buffer.gone

    @property
    def config(self) -> dict:
        """The live hyperparameters: a value changed in the app shows here between steps."""
        return self.hparams

    def show(self, height: int = 600) -> None:
        """The run's live dashboard in a notebook's output cell (the app serves it)."""
        from lernkurve.tracking import notebook

        notebook.show(self, height)

    def _repr_html_(self) -> str | None:
        """A notebook shows the run as its live dashboard (None: no server, the plain repr)."""
        from lernkurve.tracking import notebook

        try:
            return notebook.iframe_html(self)
        except Exception as err:  # noqa: BLE001 - a display must not raise
            print(f"lernkurve: no dashboard for run {self.id}: {err}", file=sys.stderr)
            return None

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
        self.model = real_module(model) if model is not None else None
        self.optimizer = optimizer = real_optimizer(optimizer)
        schedulers = scheduler if isinstance(scheduler, (list, tuple)) else [scheduler]
        self.schedulers = [s for s in schedulers if s is not None]
        self.changes.map_keys(map or {})
        saved = self._resumption.load() if self._resumption is not None else {}
        if optimizer is not None:
            self.steering = OptimizerSteering(optimizer, self.schedulers, saved.get("steering"))
            self.lr_record.snapshot()
            self.buffer.add("config", {"loop": {"optimizer": True}})
        if (log_grads or log_histograms) and model is not None and optimizer is not None:
            from lernkurve.tracking.gradhealth import GradHealth  # torch: only when asked for

            self.grad_health = GradHealth(self, model, optimizer, log_grads, log_histograms)
        if self._resume is not None:
            self._settle_resume()

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
        self.lr_record.after_step(step - 1)  # the last step has no boundary after it

    def between_steps(self, step: int) -> bool:
        """Apply commands before ``step`` runs; block while paused. False means: stop now.

        Afterwards ``self.step`` is the step the loop runs: a trial that ends here puts the
        counter back to where it started (or, after a race, past the winner's steps).
        """
        if self._resume is not None:
            self._settle_resume()
        self.step = self._next_step = step  # move_to(step), without a call: the hot path
        if not self.hparams.started:  # the app may now ask for trials: they run in these steps
            self.hparams.started = True
            self.buffer.add("config", {"loop": {"boundaries": True}})
        steering = self.steering
        if steering is not None and steering.used:  # not taken by a log call after the step
            self.lr_record.after_step(step - 1)
        if self.trial is not None:
            step = self.trials.boundary(step)
            self.move_to(step)
        commands = self.commands
        if self.trial is None:
            if commands.recipe:
                commands.replay_recipe(step)
            if self.autopilot is not None:
                self.autopilot.boundary(step)
        commands.at_boundary(step)
        every = self.checkpoint_every
        if every and step % every == 0 and step and not commands.stopping and self.trial is None:
            self.checkpoint_now(step)
        self._next_step = step + 1  # from here the loop body runs this step
        return not commands.stopping

    def move_to(self, step: int) -> None:
        """The step the loop runs next (a trial puts the counter back, a race forward)."""
        self.step = self._next_step = step

    def set_hparams(self, values: dict, mode: str = "scale") -> dict | None:
        """Change live values (the optimizer's too) now; the event's details, None if none."""
        return self.changes.set(values, mode)

    def apply_hparams(self, values: dict) -> None:
        """Put values into the watched optimizer now (a fork's own settings, for example)."""
        self.changes.steer(values, "scale")

    def current_lr(self) -> float | None:
        """The lr the optimizer uses now (the steered one), else the live config's."""
        if self.steering is not None:
            return self.steering.current_lr()
        return self.hparams.peek("lr")

    def snapshot(self, kind: str, payload: dict, step: int | None = None) -> None:
        """Record a small structured picture of the run (e.g. a decision boundary)."""
        if self.trial is not None:
            return  # a picture of a trial's state would mislead on the run's own charts
        item = {"step": self.step if step is None else step, "kind": kind, "payload": payload}
        self.buffer.add("snapshot", {**item, "wall_time": now()})

    def log_text(self, key: str, text: str, step: int | None = None) -> None:
        """Record a text sample (e.g. what a language model generates) at a step."""
        self.snapshot("text", {"key": str(key)[:100], "text": str(text)[:MAX_TEXT]}, step)

    def event(self, kind: str, payload: dict | None = None, step: int | None = None) -> None:
        """Record an event at ``step`` (default: now); during a trial at the step the run is
        at, the trial's start, never at a step only the trial ran."""
        step = self.step if step is None else step
        if self.trial is not None:
            step = self.trial.start
        item = {"step": step, "kind": kind, "payload": payload or {}}
        self.buffer.add("event", {**item, "wall_time": now()})

    # -- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(self, step: int | None = None, *, by: dict | None = None) -> Path:
        """Save model, optimizer and schedule state beside the database and record it.

        ``step`` is the step a resume starts at; by default the next one (called in the loop
        body after the update: this step is done). ``by``: who asked (the event says so).
        """
        path, step = checkpointing.save(self, self._next_step if step is None else step)
        self.record_checkpoint(path, step, managed=True, by=by)
        return path

    def record_checkpoint(
        self, path: str | Path, step: int, managed: bool = False, by: dict | None = None
    ) -> None:
        """List a saved checkpoint at ``step``: a framework's own file or folder, or with
        ``managed`` one Lernkurve wrote, which the run's retention may delete later; ``by``
        marks the event with who asked for it (``{"by": "cli"}``)."""
        if self.trial is not None and not managed:  # a framework saved what the trial tries
            message = (
                f"a checkpoint written during the {self.trial.kind.replace('_', ' ')} holds its "
                f"trial's state, not this run's: not listed ({path})"
            )
            self.event("note", {"message": message, "path": str(path)})
            return
        item = {"step": step, "path": str(path), "created_at": now(), "managed": managed}
        if managed:
            item["retain"] = dict(self.retention)
        self.buffer.add("checkpoint", item)
        self.event("checkpoint", {"path": str(path), "step": step, **(by or {})}, step)

    def checkpoint_now(self, step: int, by: dict | None = None) -> None:
        """A checkpoint at this boundary (the app's command, checkpoint_every)."""
        try:
            if self.checkpointer is not None:  # the framework records it when it has saved
                self.checkpointer(step)
                return
            self.save_checkpoint(step, by=by)  # a distributed job's other ranks save nothing
        except OSError as err:  # a full disk costs the checkpoint, not the run
            self.event("note", {"message": f"checkpoint failed: {err}"}, step)

    def load_recipe(self, recipe: dict | None) -> None:
        """Replay a recipe (lernkurve.shared.recipes): each command at its step, from now on."""
        self.commands.load_recipe(recipe, self.step)

    # -- resuming (lernkurve.tracking.resume: all or nothing) -----------------------------------

    def begin_resume(self, plan: resume.ResumePlan) -> None:
        """Go on from ``plan``'s checkpoint: its hparams and extra state now, the model's and
        optimizer's at ``watch()``; the dead process's points go only once that worked."""
        self._resume = self._resumption = Resumption(self, plan)
        if plan.state is not None:
            self.hparams.update(plan.state.get("hparams") or {})
            self.extra_state = plan.state.get("extra") or {}

    @property
    def resuming(self) -> bool:
        """A resume whose checkpoint state is not in place yet: nothing of it is written."""
        return self._resume is not None

    @property
    def resume_from(self) -> str | None:
        """Our own checkpoint that ``watch()`` loads (None: none, or a framework loaded its own)."""
        pending = self._resumption
        return pending.plan.path if pending is not None and pending.state is not None else None

    def _settle_resume(self) -> None:
        pending, self._resume = self._resume, None
        if pending is not None:
            pending.settle()

    def abandon_resume(self, exc: BaseException) -> None:
        """The checkpoint's state does not fit: forget this process's run, put the row back as
        it was (every point kept) and raise ResumeError with the reason."""
        pending, self._resume = self._resume, None
        self._abandoned = True
        atexit.unregister(self._at_exit)
        self.buffer.forget_pending()
        self.ended.set()
        self._writer.unregister(self.buffer)
        pending.undo(exc)

    # -- ending -------------------------------------------------------------------------------

    def finish(self, status: str = "completed") -> None:
        """End the run (completed unless it was stopped) and flush everything it logged."""
        if self.commands.stopping and status == "completed":
            status = "stopped"
        self._end_trial("the training loop ended")
        self._end(status)

    def fail(self, exc: BaseException) -> None:
        """Mark the run failed with the exception's message and traceback."""
        message = f"{type(exc).__name__}: {exc}"
        trace = "".join(traceback.format_exception(exc))
        self.event("error", {"message": message, "traceback": trace})
        self._end_trial(message)
        self._end("failed", error=message)

    def _end_trial(self, reason: str) -> None:
        """A trial the run ends in ends early; what waited for it will not happen."""
        kind = self.trial.kind.replace("_", " ") if self.trial is not None else "trial"
        self.trials.abort(reason)
        self.commands.refuse_deferred(f"the run ended before its {kind} did")

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
        self.lr_record.at_end(self._next_step - 1)
        atexit.unregister(self._at_exit)
        self.buffer.end(now(), error)  # before the status: the writer commits them together
        self.ended.set()
        self.status = status
        self._writer.unregister(self.buffer)  # also closes commands that came after the end
        if self.model is not None:  # only a watched run can have been asked for a trial
            close_unstarted(self.db, self.id)
