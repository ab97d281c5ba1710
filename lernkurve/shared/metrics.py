"""Which metric a decision reads: the one asked for, else the run's loss."""

from __future__ import annotations

from typing import Any

LOSS_KEYS = ("loss", "train_loss")


def pick_metric(keys, wanted: str | None = None) -> str | None:
    """The metric a trial judges by: the asked one, else `loss`, `train_loss`, any `*loss*`."""
    keys = list(keys)
    if wanted:
        return wanted if wanted in keys else None
    for key in LOSS_KEYS:
        if key in keys:
            return key
    return next((k for k in keys if "loss" in k), None)


def number(value: Any) -> float | None:
    try:
        return float(value)  # a one-element tensor reads too (accelerator: a sync, trials only)
    except (TypeError, ValueError, RuntimeError):
        return None
