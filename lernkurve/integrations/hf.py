"""Hugging Face ``transformers.Trainer`` watched and steered by Lernkurve.

    from lernkurve.integrations.hf import LernkurveCallback
    trainer = Trainer(model, args, train_dataset=..., callbacks=[LernkurveCallback()])
    trainer.train()                              # or train(resume_from_checkpoint=True)

A step is an optimizer step (gradient accumulation included) and carries the Trainer's
``global_step`` after it: the ``loss`` the Trainer logs at step 10 and the lr it used there
share the step. Commands from the app take effect between two optimizer steps:

- lr changes act on the Trainer's scheduler (scale by default, override, release), weight
  decay keeps the no-decay group at 0, max_grad_norm is what the next clipping uses;
- pause holds the Trainer at the boundary, step runs one optimizer step;
- stop sets ``control.should_training_stop`` and ``control.should_save``: the Trainer ends
  cleanly after writing its own checkpoint;
- checkpoint sets ``control.should_save``: the Trainer writes ``checkpoint-<step>`` in its
  output folder, and every checkpoint it writes is listed in the app.

``trainer.train(resume_from_checkpoint=...)`` continues the same Lernkurve run: its id and the
lr steer travel in the checkpoint's ``trainer_state.json``.
"""

from __future__ import annotations

import os
import sys

from lernkurve.integrations import log_last_lr, require
from lernkurve.tracking import distributed

transformers = require("transformers", "hf", "lernkurve.integrations.hf")
TrainerCallback = transformers.TrainerCallback
ExportableState = transformers.trainer_callback.ExportableState

LIVE = ("lr", "weight_decay", "max_grad_norm")
STATE_NAME = "LernkurveCallback"  # the key of this callback's state in trainer_state.json


def _unwrap(thing, attribute: str):
    """Accelerate's wrapper around an optimizer or scheduler: the torch object inside."""
    inner = getattr(thing, attribute, None)
    return inner if inner is not None and type(thing).__module__.startswith("accelerate") else thing


class LernkurveCallback(TrainerCallback, ExportableState):
    """Shows a Trainer's run in Lernkurve and obeys the app between optimizer steps."""

    def __init__(
        self,
        name: str | None = None,
        config: dict | None = None,
        *,
        db: str | None = None,
        live: tuple | list = LIVE,
    ) -> None:
        self.name = name
        self.extra_config = dict(config or {})
        self.db = db
        self.live = list(live)
        self.run = None
        self._ended = None  # the run once train() ended: an evaluate() after it still logs
        self.run_id: int | None = None
        self._control = None
        self._save_pending = False  # the app asked for a checkpoint; the Trainer has not saved
        self._last_lr: tuple[int, float] | None = None  # (step, lr the optimizer used)

    # -- saved in the Trainer's checkpoints ---------------------------------------------------

    def state(self) -> dict:
        steering = self.run.steering if self.run is not None else None
        trial = self.run.trial if self.run is not None else None
        return {
            "args": {"name": self.name, "db": self.db},
            "attributes": {
                "run_id": self.run_id,
                "steering": steering.state_dict() if steering is not None else None,
                "trial": trial.kind if trial is not None else None,  # a variant's weights
            },
        }

    # -- the Trainer's events -----------------------------------------------------------------

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self._ended = None
        self._control = control
        saved = (state.stateful_callbacks or {}).get(STATE_NAME) or {}
        if isinstance(saved, list):  # several of us: the first one's
            saved = saved[0] if saved else {}
        attributes = saved.get("attributes") or {}
        with distributed.this_rank_only():  # rank 0 alone: the other ranks never call init
            self.run = self._start(args, state, attributes)
        self.run_id = self.run.id
        self.run.total_steps = state.max_steps
        optimizer = kwargs.get("optimizer")  # watch() looks through accelerate's wrapper
        scheduler = _unwrap(kwargs.get("lr_scheduler"), "scheduler")
        self.run.watch(kwargs.get("model"), optimizer, scheduler=scheduler)
        if state.global_step and attributes.get("steering") and self.run.steering is not None:
            self.run.steering.load_state_dict(attributes["steering"])
        self.run.checkpointer = self._request_save
        self._boundary(args, state, control)

    def on_step_end(self, args, state, control, **kwargs):
        if self.run is None:
            return
        self._control = control
        used = self.run.steering.used if self.run.steering is not None else []
        if used:
            self._last_lr = (state.global_step, used[0])
        if control.should_training_stop or state.global_step >= state.max_steps:
            log_last_lr(self.run, state.global_step)  # the last step: no boundary follows
            return
        self._boundary(args, state, control)
        if self._save_pending:  # asked before the first step: the Trainer reset the flag since
            control.should_save = True

    def on_log(self, args, state, control, logs=None, **kwargs):
        run = self.run or self._ended
        if run is None or not logs:
            return
        values = {k: v for k, v in logs.items() if isinstance(v, (int, float)) and k != "epoch"}
        if "learning_rate" in values and self._last_lr and self._last_lr[0] == state.global_step:
            # The Trainer reports its scheduler's value; the optimizer used the steered one.
            values["learning_rate"] = self._last_lr[1]
        if "epoch" in logs:
            values["epoch"] = logs["epoch"]
        if values and self.run is None:  # trainer.evaluate() after train(): kept too
            run.log_after_end(values, step=state.global_step)
        elif values:
            run.log(values, step=state.global_step)

    def on_save(self, args, state, control, **kwargs):
        if self.run is None:
            return
        self._save_pending = False
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        self.run.record_checkpoint(os.path.abspath(folder), state.global_step + 1)

    def on_train_end(self, args, state, control, **kwargs):
        if self.run is None:
            return
        log_last_lr(self.run, state.global_step)
        self.run.finish()
        self._ended, self.run = self.run, None

    # -- helpers ------------------------------------------------------------------------------

    def _start(self, args, state, attributes: dict):
        """A new run, or the checkpoint's own run when the Trainer resumes one."""
        from lernkurve.tracking import client

        run_id = attributes.get("run_id")
        if attributes.get("trial"):  # written during a trial: not the run's own state
            print(
                f"lernkurve: run {run_id} not continued (this checkpoint was written during its "
                f"{attributes['trial'].replace('_', ' ')}); a new run starts",
                file=sys.stderr,
            )
        elif state.global_step and run_id is not None:
            step = state.global_step + 1  # the next optimizer step, as the boundaries count
            path = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
            try:  # the same run, at the Trainer's step: later points are the dead process's
                return client.continue_run(run_id, step, path, "hf", db=self.db)
            except ValueError as err:
                print(
                    f"lernkurve: run {run_id} not continued ({err}); a new run starts",
                    file=sys.stderr,
                )
        config = args.to_sanitized_dict()  # lernkurve.init makes plain values of them
        config["lr"] = config.pop("learning_rate", args.learning_rate)
        config.update(self.extra_config)
        live = [key for key in self.live if key in config]
        name = self.name or args.run_name or os.path.basename(os.path.normpath(args.output_dir))
        return client.init(name=name, config=config, live=live, db=self.db)

    def _boundary(self, args, state, control) -> None:
        """The point between two optimizer steps: apply the app's commands, hold while paused."""
        if not self.run.between_steps(state.global_step + 1):
            control.should_training_stop = True
            control.should_save = True  # the Trainer's own checkpoint, to resume from
            return
        if "max_grad_norm" in self.run.config:
            args.max_grad_norm = float(self.run.config["max_grad_norm"])

    def _request_save(self, step: int) -> None:
        """The app's checkpoint command: the Trainer saves after this step, on_save lists it."""
        self._save_pending = True
        if self._control is not None:
            self._control.should_save = True
