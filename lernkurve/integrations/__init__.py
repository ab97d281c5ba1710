"""Lernkurve inside the frameworks people train with: Hugging Face Trainer, Lightning.

Each integration is an optional extra (requirements-extras.txt); importing one without its
framework raises ImportError with one line saying what to install.
"""

from __future__ import annotations

import importlib

PINS = {
    "hf": "transformers==5.24.0 accelerate==1.15.0",
    "lightning": "lightning==2.6.6",
    "tensorboard": "tensorboard==2.21.0",
}


def require(module: str, extra: str, feature: str):
    """Import ``module`` or raise ImportError with the one line that tells what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{feature} needs {module.split('.')[0]}: pip install {PINS[extra]} "
            f"(or pip install -r requirements-extras.txt)"
        ) from err


def log_last_lr(run, step: int) -> None:
    """Log the lr the optimizer used in the last step when no step boundary followed it."""
    steering = run.steering
    if steering is None or not steering.used:
        return
    used, steering.used = steering.used, []
    values = {f"lr/group{i}": lr for i, lr in enumerate(used) if i and lr != used[0]}
    values["lr"] = used[0]
    run.log(values, step=step)
