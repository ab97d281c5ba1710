"""A run's own checkpoint files: what one holds (model, optimizer with every group, the
schedulers given to ``watch``, the steer, hparams and the loop's extra state) and putting that
back into the script's objects on a resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lernkurve.store.checkpoints import checkpoint_root


def save(run: Any, step: int) -> tuple[Path, int]:
    """Write the run's state as of ``step`` (where a resume starts) beside its database; the
    file and the step it holds. During a trial that is the run's state as of the trial's
    start, at its step: what the trial tries is never what a resume goes on from."""
    import torch  # the webserver never gets here; keep its start fast

    state = held_by_trial(run) if run.trial is not None else current(run, step)
    path = folder(run) / f"step-{state['step']:09d}.pt"
    partial = path.with_suffix(".part")
    torch.save(state, partial)
    partial.replace(path)  # a crash mid-save never leaves a torn checkpoint behind
    return path, state["step"]


def current(run: Any, step: int) -> dict:
    return {
        "step": step,
        "hparams": dict(run.hparams),
        "model": run.model.state_dict() if run.model is not None else None,
        "optimizer": run.optimizer.state_dict() if run.optimizer is not None else None,
        "schedulers": [scheduler.state_dict() for scheduler in run.schedulers],
        "steering": run.steering.state_dict() if run.steering is not None else None,
        "extra": dict(run.extra_state),
    }


def held_by_trial(run: Any) -> dict:
    """The copy a trial took of the run when it started (lernkurve.tracking.state)."""
    trial = run.trial
    state = trial.state
    return {
        "step": trial.start,
        "hparams": dict(state.hparams),
        "model": state.model,
        "optimizer": state.optimizer,
        "schedulers": list(state.schedulers),
        "steering": state.steering_state,
        "extra": dict(state.extra),
    }


def folder(run: Any) -> Path:
    """``run-<id>/`` in the app's checkpoint folder, or in the database's own."""
    base = run.checkpoint_dir or checkpoint_root(run.db)
    path = base / f"run-{run.id}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load(run: Any, state: dict) -> None:
    """Model, optimizer (every group exactly as saved) and schedulers, from a checkpoint's
    state; raises whatever the script's objects raise when it does not fit them."""
    if run.model is not None and state.get("model") is not None:
        run.model.load_state_dict(state["model"])
    if run.optimizer is not None and state.get("optimizer") is not None:
        run.optimizer.load_state_dict(state["optimizer"])
    for scheduler, saved in zip(run.schedulers, state.get("schedulers") or [], strict=False):
        scheduler.load_state_dict(saved)
