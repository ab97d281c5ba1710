"""An exact in-memory copy of a run's training state, to try something and come back.

Model weights and buffers, optimizer state, schedulers, the live steer, the live hparams and
every random generator the loop may draw from: restoring puts all of them back bit for bit.
The data loader is the script's own and simply advances.
"""

from __future__ import annotations

import copy
import random
import sys
from typing import Any


def _clone(state: Any) -> Any:
    """A deep copy whose tensors are cloned (state dicts hold references to live tensors)."""
    return copy.deepcopy(state)


def _rng_state() -> dict:
    import torch

    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    numpy = sys.modules.get("numpy")  # only if the script uses it: never import it here
    if numpy is not None:
        state["numpy"] = numpy.random.get_state()
    return state


def _set_rng_state(state: dict) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        sys.modules["numpy"].random.set_state(state["numpy"])


class TrainingState:
    """Everything a step changes, copied now; ``restore()`` puts it back exactly."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.model = _clone(run.model.state_dict()) if run.model is not None else None
        self.optimizer = _clone(run.optimizer.state_dict()) if run.optimizer is not None else None
        self.schedulers = [_clone(s.state_dict()) for s in run.schedulers]
        self.steering = run.steering.capture() if run.steering is not None else None
        self.steering_state = run.steering.state_dict() if run.steering is not None else None
        self.hparams = _clone(dict(run.hparams))
        self.extra = _clone(dict(run.extra_state))
        self.rng = _rng_state()

    def restore(self, rng: bool = True) -> None:
        """Put everything back; ``rng=False`` leaves the random generators where they are (the
        data order moves on instead of replaying the same batches)."""
        run = self.run
        if self.model is not None:
            run.model.load_state_dict(self.model)
        if self.optimizer is not None:
            run.optimizer.load_state_dict(_clone(self.optimizer))
        for scheduler, saved in zip(run.schedulers, self.schedulers, strict=False):
            scheduler.load_state_dict(_clone(saved))
        if self.steering is not None:
            run.steering.restore(self.steering)
        run.hparams.update(_clone(self.hparams))
        if rng:
            _set_rng_state(self.rng)
