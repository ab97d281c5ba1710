"""Values crossing from the training loop into Lernkurve: live config reads, logged tensors."""

from __future__ import annotations

import operator
from typing import Any


class LiveConfig(dict):
    """A run's live hyperparameters; remembers which keys the loop read once it started.

    A live change to a key nobody reads does nothing, and the run says so
    (lernkurve.tracking.changes).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started = False  # set at the first step boundary
        self.read_keys: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        if self.started:
            self.read_keys.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        if self.started:
            self.read_keys.add(key)
        return super().get(key, default)

    def read_every_step(self, *keys: str) -> None:
        """The loop reads these keys at every step: counted as read once, so a hot loop may
        read them with dict's own lookup (``dict.get(config, key)``), not this class's."""
        self.read_keys.update(keys)

    def peek(self, key: str) -> Any:
        """Read without counting as the loop's read (Lernkurve's own bookkeeping)."""
        return super().get(key)


def read_now(scalars: dict) -> None:
    """Replace tensors in a logged dict by their value at this moment, in place.

    A CPU tensor is read at once (``item()``: no copy kept, no autograd warning later). A
    tensor on an accelerator is copied on its device, which queues without waiting for the
    device; the writer thread reads the copy later, so the training loop never syncs.
    """
    for key, value in scalars.items():
        if type(value) is float or type(value) is int:
            continue
        detach = getattr(value, "detach", None)
        if detach is None:
            continue
        tensor = detach()
        if tensor.device.type == "cpu":
            scalars[key] = tensor.item() if tensor.numel() == 1 else tensor.clone()
        else:
            scalars[key] = tensor.clone()


def step_number(value: Any) -> int:
    """A step given as a number of another kind (numpy's, a 0-d tensor's), as an int; a clear
    error for anything else, before it can reach the writer and spoil a batch."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"log() takes a dict of values or a step number, not {type(value).__name__}"
        ) from None
