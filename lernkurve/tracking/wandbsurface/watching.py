"""``wandb.watch(model)`` names no optimizer; Lernkurve needs one to steer and to measure
gradients at ``optimizer.step()``. The first optimizer that steps any of the model's
parameters is taken, in torch's global step pre-hook, and watched from that very step on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Attach = Callable[[Any, Any], None]  # attach(model, optimizer)


def modules_of(models: Any) -> list:
    """``watch``'s argument (a model, or a list or tuple of them) as a list."""
    return list(models) if isinstance(models, (list, tuple)) else [models]


class LazyWatch:
    """Waits for the optimizer of ``models``; ``attach(model, optimizer)`` runs once."""

    def __init__(self, models: list, attach: Attach) -> None:
        from torch.optim.optimizer import register_optimizer_step_pre_hook

        self.models = models
        self.params = {id(p) for model in models for p in model.parameters()}
        self.attach = attach
        self.found = False
        self._handle = register_optimizer_step_pre_hook(self._step)

    def add(self, models: list) -> None:
        """More models to watch (only the first optimizer found is steered)."""
        self.models += models
        self.params |= {id(p) for model in models for p in model.parameters()}

    def _step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self.found:
            return  # removed by tidy(): not while torch walks its global hooks
        used = {id(p) for group in optimizer.param_groups for p in group["params"]}
        if used.isdisjoint(self.params):
            return  # another optimizer (a GAN's other half, say)
        self.found = True
        model = next(m for m in self.models if any(id(p) in used for p in m.parameters()))
        self.attach(model, optimizer)  # its own hooks, registered now, run in this same step

    def tidy(self) -> None:
        """Remove the global hook once the optimizer is found (between steps)."""
        if self.found:
            self.remove()

    def remove(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
