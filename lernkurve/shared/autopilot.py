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
    "divergence": {"enabled": True, "factor": 0.5, "ratio": 3.0, "snapshot_every": 100},
}


def merge(current: dict | None, changes: dict) -> dict:
    """Settings with ``changes`` (validated by the API) laid over ``current`` or the defaults."""
    settings = copy.deepcopy(current or DEFAULTS)
    for key, value in changes.items():
        if isinstance(value, dict):
            settings.setdefault(key, {}).update(value)
        else:
            settings[key] = value
    return settings
