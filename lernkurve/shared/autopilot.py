"""The autopilot's settings, as the page and the API check and store them and the run acts on
them (lernkurve.tracking.autopilot)."""

from __future__ import annotations

import copy

DEFAULTS: dict = {
    "enabled": False,
    "plateau": {
        "enabled": True,
        "metric": None,  # None: loss, train_loss or any *loss* key the run logs
        "patience": 200,
        "factor": 0.5,
        "max_times": 3,
        "min_delta": 0.0,
    },
    "divergence": {
        "enabled": True,
        "factor": 0.5,
        "ratio": 3.0,  # the smoothed metric above this many times its recent median ...
        "window": 20,  # ... for this many log calls in a row: a real departure, not noise
        "snapshot_every": 100,
        "max_times": 3,  # restores at most; after them a divergence pauses the run
    },
}

# What the API accepts for each setting: a type, or an inclusive (low, high) range. Factors
# below 0.01 or hundreds of actions would take lr to nothing in a few minutes.
LIMITS: dict = {
    "plateau": {
        "enabled": bool,
        "metric": str,
        "patience": (10, 10_000_000),
        "factor": (0.01, 0.99),
        "max_times": (0, 100),
        "min_delta": (0.0, 1e12),
    },
    "divergence": {
        "enabled": bool,
        "factor": (0.01, 0.99),
        "ratio": (1.5, 1e6),
        "window": (1, 10_000),
        "snapshot_every": (1, 10_000_000),
        "max_times": (0, 100),
    },
}


def merge(current: dict | None, changes: dict) -> dict:
    """Settings with ``changes`` (validated by the API) laid over ``current`` or the defaults;
    settings stored by an older release get the newer defaults for what they lack."""
    settings = copy.deepcopy(DEFAULTS)
    for source in (current or {}, changes):
        for key, value in source.items():
            if isinstance(value, dict):
                settings.setdefault(key, {}).update(value)
            else:
                settings[key] = value
    return settings
