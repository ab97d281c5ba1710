"""Lightning's ``Trainer`` watched and steered by Lernkurve.

    from lernkurve.integrations.lightning import LernkurveCallback, LernkurveLogger
    trainer = L.Trainer(callbacks=[LernkurveCallback()], logger=LernkurveLogger())
    trainer.fit(model, loader)                   # or fit(..., ckpt_path=...) to continue

``self.log(...)`` in the LightningModule lands in Lernkurve through ``LernkurveLogger``. A step
is an optimizer step (``accumulate_grad_batches`` included), numbered as Lightning numbers
the steps its logger sees. Between two optimizer steps the callback applies the app's commands:

- lr changes act on the configured LR schedulers (scale by default, override, release);
  weight decay keeps zero groups at zero; ``gradient_clip_val`` (when set) is live too;
- pause holds the loop, step runs one optimizer step;
- stop sets ``trainer.should_stop`` after saving a checkpoint with ``trainer.save_checkpoint``;
- checkpoint calls ``trainer.save_checkpoint`` into the checkpoint folder of the Trainer.

The run's id and the lr steer are part of the callback's state in every Lightning checkpoint,
so ``trainer.fit(model, ckpt_path=...)`` continues the same run.
"""

from __future__ import annotations

import math
import os
import sys

from lernkurve.integrations import log_last_lr, require
from lernkurve.shared.configs import as_mapping
from lernkurve.tracking import distributed

lightning = require("lightning.pytorch", "lightning", "lernkurve.integrations.lightning")
Callback = lightning.Callback
Logger = lightning.loggers.Logger
rank_zero_only = lightning.utilities.rank_zero_only


def _start_run(name: str | None, config: dict, live: list[str], db: str | None, resumed=None):
    """A new run, or the checkpoint's own run when Lightning continues one; ``resumed``:
    (run id, step, path) of the checkpoint Lightning has loaded."""
    with distributed.this_rank_only():  # rank 0 alone: the other ranks never call init
        return _start_run_here(name, config, live, db, resumed)


def _start_run_here(name: str | None, config: dict, live: list[str], db: str | None, resumed):
    from lernkurve.tracking import client

    if resumed is None:
        return client.init(name=name, config=config, live=live, db=db)
    run_id, step, path, trial = resumed
    if trial:  # a variant's weights: continuing the run with them would rewrite its history
        why = f"it was written during its {trial.replace('_', ' ')} and holds what that tried"
    else:
        try:  # the same run, at Lightning's step: the points after it are the dead process's
            return client.continue_run(run_id, step, path, "lightning", db=db)
        except ValueError as err:
            why = str(err)
    print(f"lernkurve: run {run_id} not continued ({why}); a new run starts", file=sys.stderr)
    run = client.init(name=name, config=config, live=live, db=db)
    message = (
        f"started from {path}, a checkpoint of run {run_id}, which could not be continued "
        f"({why}); the weights and the lr steer saved in it apply here"
    )
    run.event("note", {"message": message, "from_run": run_id}, step)
    return run


class LernkurveLogger(Logger):
    """Everything Lightning logs (``self.log``, hyperparameters) goes into a Lernkurve run.

    With ``LernkurveCallback`` both share one run; alone, the logger starts its own run at
    the first metrics (watched, not steered).
    """

    def __init__(self, name: str | None = None, *, db: str | None = None) -> None:
        super().__init__()
        self._name = name
        self.db = db
        self.run = None
        self.hparams: dict = {}
        self._owns_run = False

    @property
    def name(self) -> str:
        return self._name or "lernkurve"

    @property
    def version(self) -> str:
        return f"run-{self.run.id}" if self.run is not None else ""

    def attach(self, run, on_save=None) -> None:
        """Log into ``run`` (the callback's) from now on; ``on_save`` hears of every
        ModelCheckpoint save."""
        self.run = run
        self._on_save = on_save

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback) -> None:
        if getattr(self, "_on_save", None) is not None:
            self._on_save(checkpoint_callback)

    @rank_zero_only
    def log_hyperparams(self, params, *args, **kwargs) -> None:
        """Kept as given: ``lernkurve.init`` turns them into plain values (nested as a.b)."""
        self.hparams.update(as_mapping(params) or {})

    @rank_zero_only
    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        if self.run is None:
            self.run = _start_run(self._name, dict(self.hparams), [], self.db)
            self._owns_run = True
        values = {k: v for k, v in metrics.items() if k != "epoch"}
        if "epoch" in metrics:
            values["epoch"] = metrics["epoch"]
        if self.run.ended.is_set():  # trainer.test() or validate() after fit: kept too
            self.run.log_after_end(values, step=step)
            return
        self.run.log(values, step=step)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._owns_run and self.run is not None:
            self.run.finish("completed" if status == "success" else "failed")
            self.run = None


class LernkurveCallback(Callback):
    """Shows a Lightning run in Lernkurve and obeys the app between optimizer steps."""

    def __init__(
        self, name: str | None = None, config: dict | None = None, *, db: str | None = None
    ) -> None:
        self.name = name
        self.extra_config = dict(config or {})
        self.db = db
        self.run = None
        self.run_id: int | None = None
        self._restored: dict = {}
        self._trainer = None
        self._auto_dirs: list = []  # ModelCheckpoints whose folder Lightning chose
        self._noted: set[tuple[str, int]] = set()  # ModelCheckpoint saves listed with the run

    # -- saved in Lightning's checkpoints -------------------------------------------------------

    def state_dict(self) -> dict:
        steering = self.run.steering if self.run is not None else None
        trial = self.run.trial if self.run is not None else None
        return {
            "run_id": self.run_id,
            "steering": steering.state_dict() if steering is not None else None,
            "trial": trial.kind if trial is not None else None,  # a variant's weights, then
        }

    def load_state_dict(self, state_dict: dict) -> None:
        self._restored = dict(state_dict)

    # -- Lightning's hooks ----------------------------------------------------------------------

    def setup(self, trainer, pl_module, stage: str) -> None:
        # Before ModelCheckpoint's own setup (Lightning runs checkpoint callbacks last): those
        # without a folder of the user's get the run's (on_train_start), not one for all runs.
        first = trainer.loggers[0] if trainer.loggers else None
        if stage == "fit" and (first is None or isinstance(first, LernkurveLogger)):
            self._auto_dirs = [cb for cb in trainer.checkpoint_callbacks if cb.dirpath is None]

    def on_train_start(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            self._share_folder(trainer, None)
            return
        self._trainer = trainer
        optimizer = trainer.optimizers[0] if trainer.optimizers else None
        schedulers = [config.scheduler for config in trainer.lr_scheduler_configs]
        logger = next((lg for lg in trainer.loggers if isinstance(lg, LernkurveLogger)), None)
        resumed = None
        if trainer.global_step and self._restored.get("run_id") is not None:
            resumed = (self._restored["run_id"], trainer.global_step, trainer.ckpt_path)
            resumed += (self._restored.get("trial"),)
        config, live = self._config(trainer, pl_module, optimizer, logger)
        self.run = _start_run(self.name or type(pl_module).__name__, config, live, self.db, resumed)
        self.run_id = self.run.id
        self._share_folder(trainer, self._run_folder(trainer, logger))
        total = trainer.estimated_stepping_batches
        self.run.total_steps = int(total) if math.isfinite(total) else None
        self.run.watch(pl_module, optimizer, scheduler=schedulers)
        steering = self._restored.get("steering")
        if resumed is not None and steering and self.run.steering is not None:
            self.run.steering.load_state_dict(steering)
        self.run.checkpointer = self._save
        if logger is not None:
            logger.attach(self.run, self.note_save)
        self._boundary(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.run is None or trainer.global_step == self.run.step:
            return  # a micro-batch of an accumulation: no optimizer step yet
        self._note_saves(trainer)
        total = self.run.total_steps
        if trainer.should_stop or (total is not None and trainer.global_step >= total):
            log_last_lr(self.run, trainer.global_step - 1)  # the last step: no boundary follows
            return
        self._boundary(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.run is not None:
            self._note_saves(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.run is not None:
            self._note_saves(trainer)
            log_last_lr(self.run, trainer.global_step - 1)
            self.run.finish()
            self.run = None

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if self.run is not None:
            if isinstance(exception, KeyboardInterrupt):
                self.run.finish("stopped")
            else:
                self.run.fail(exception)
            self.run = None

    # -- helpers ------------------------------------------------------------------------------

    def _config(self, trainer, pl_module, optimizer, logger) -> tuple[dict, list[str]]:
        config = dict(pl_module.hparams)  # lernkurve.init makes plain values of them
        if logger is not None:
            config.update(logger.hparams)
        config.update(
            {
                "max_epochs": trainer.max_epochs,
                "max_steps": trainer.max_steps,
                "accumulate_grad_batches": trainer.accumulate_grad_batches,
                "precision": trainer.precision,
                "optimizer": type(optimizer).__name__ if optimizer is not None else None,
            }
        )
        live = []
        if optimizer is not None:
            group = optimizer.param_groups[0]
            config["lr"] = float(group["lr"])
            live.append("lr")
            if "weight_decay" in group:
                config["weight_decay"] = float(group["weight_decay"])
                live.append("weight_decay")
        if trainer.gradient_clip_val is not None:
            config["gradient_clip_val"] = float(trainer.gradient_clip_val)
            live.append("gradient_clip_val")
        config.update(self.extra_config)
        return config, live

    def _boundary(self, trainer) -> None:
        """The point between two optimizer steps: apply the app's commands, hold while paused."""
        if not self.run.between_steps(trainer.global_step):
            self._save(trainer.global_step)  # a checkpoint of Lightning's own, to resume from
            trainer.should_stop = True
            return
        if "gradient_clip_val" in self.run.config:
            trainer.gradient_clip_val = float(self.run.config["gradient_clip_val"])

    def _save(self, step: int) -> None:
        """A checkpoint in Lightning's own format (``trainer.save_checkpoint``) that the app
        asked for; the run's retention keeps the newest few."""
        trainer = self._trainer
        callback = trainer.checkpoint_callback
        folder = getattr(callback, "dirpath", None) or os.path.join(
            trainer.default_root_dir, "checkpoints"
        )
        path = os.path.abspath(os.path.join(folder, f"lernkurve-step={step}.ckpt"))
        trainer.save_checkpoint(path)
        self.run.record_checkpoint(path, step, managed=True)

    def note_save(self, callback) -> None:
        """List a ModelCheckpoint's newest file with the run, at the step it was saved at (a
        resume from it goes on there)."""
        path = getattr(callback, "_last_checkpoint_saved", None)
        step = getattr(callback, "_last_global_step_saved", None)
        if self.run is None or not path or step is None or (path, step) in self._noted:
            return
        self._noted.add((path, step))
        self.run.record_checkpoint(os.path.abspath(path), step)

    def _note_saves(self, trainer) -> None:
        """Saves a logger of ours did not report (no LernkurveLogger): seen at the next hook."""
        for callback in trainer.checkpoint_callbacks:
            self.note_save(callback)

    def _run_folder(self, trainer, logger) -> str:
        """Where Lightning would put the run's checkpoints had it known the run: one folder
        per run, as loggers' versions give (not one for every run of the script)."""
        save_dir = (logger.save_dir if logger is not None else None) or trainer.default_root_dir
        name = logger.name if logger is not None else "lernkurve"
        return os.path.join(save_dir, name, f"run-{self.run.id}", "checkpoints")

    def _share_folder(self, trainer, folder: str | None) -> None:
        """Rank 0's run folder for the ModelCheckpoints Lightning placed, on every rank."""
        if not self._auto_dirs:
            return
        folder = trainer.strategy.broadcast(folder, src=0)
        for callback in self._auto_dirs:
            callback.dirpath = folder
