"""Looking through wrappers: the optimizer that really steps, the module that holds the weights.

Frameworks hand scripts wrapped objects: accelerate's ``AcceleratedOptimizer`` (a torch
Optimizer subclass that never ran ``Optimizer.__init__``: no step hooks of its own), an
``OptimizedModule`` from ``torch.compile``, ``DistributedDataParallel``. Steering must act on
the optimizer whose ``step()`` runs the hooks, and a checkpoint must hold the plain module's
weights so that it loads into the same script compiled or not.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 8  # wrappers of wrappers, at most; a loop of references ends here


def steps_with_hooks(optimizer: Any) -> bool:
    """True for an optimizer whose step() runs step pre-hooks (it ran Optimizer.__init__)."""
    return isinstance(getattr(optimizer, "_optimizer_step_pre_hooks", None), dict)


def real_optimizer(optimizer: Any) -> Any:
    """The torch optimizer inside wrappers that expose it as ``.optimizer`` (accelerate's
    AcceleratedOptimizer and similar), or ``optimizer`` itself; TypeError if none steps."""
    found = optimizer
    for _ in range(MAX_DEPTH):
        if found is None or steps_with_hooks(found):
            return found
        found = getattr(found, "optimizer", None)
    raise TypeError(
        f"watch() needs a torch.optim.Optimizer (or a wrapper holding it as .optimizer), got "
        f"{type(optimizer).__module__}.{type(optimizer).__qualname__}"
    )


def real_module(model: Any) -> Any:
    """The module inside ``torch.compile`` (``_orig_mod``) and DataParallel/DDP (``module``)."""
    for _ in range(MAX_DEPTH):
        inner = _inner_module(model)
        if inner is None:
            return model
        model = inner
    return model


def _inner_module(model: Any) -> Any:
    name = type(model).__name__
    if name == "OptimizedModule":
        return getattr(model, "_orig_mod", None)
    if name in ("DistributedDataParallel", "DataParallel"):
        return getattr(model, "module", None)
    return None
