"""The built-in tasks' names, descriptions and hparam schemas (importable without torch)."""

from __future__ import annotations

import math
from copy import deepcopy

_COMMON = {
    "lr": {
        "type": "float",
        "min": 1e-6,
        "max": 10.0,
        "default": 0.1,
        "live": True,
        "log": True,
        "help": "learning rate",
    },
    "momentum": {
        "type": "float",
        "min": 0.0,
        "max": 0.999,
        "default": 0.9,
        "live": True,
        "help": "SGD momentum (Adam: beta1)",
    },
    "weight_decay": {
        "type": "float",
        "min": 0.0,
        "max": 0.1,
        "default": 0.0,
        "live": True,
        "help": "L2 penalty",
    },
    "batch_size": {
        "type": "int",
        "min": 1,
        "max": 1024,
        "default": 32,
        "live": True,
        "help": "examples per step, from the next batch on",
    },
    "delay_ms": {
        "type": "float",
        "min": 0.0,
        "max": 2000.0,
        "default": 0.0,
        "live": True,
        "help": "pause after each step, to watch a fast run closely",
    },
    "optimizer": {"type": "choice", "choices": ["sgd", "adam"], "default": "sgd", "live": False},
    "hidden": {
        "type": "int_list",
        "min": 1,
        "max": 1024,
        "default": [32, 32],
        "live": False,
        "help": "hidden layer sizes",
    },
    "epochs": {"type": "int", "min": 1, "max": 100000, "default": 100, "live": False},
    "seed": {"type": "int", "min": 0, "max": 2**31 - 1, "default": 0, "live": False},
}


def _schema(**overrides: dict) -> dict:
    schema = deepcopy(_COMMON)
    for key, changes in overrides.items():
        schema[key].update(changes)
    return schema


TASKS: dict[str, dict] = {
    "spiral": {
        "title": "Spiral",
        "description": "Three interleaved 2-D spirals (900 points) classified by a small MLP.",
        "hparams": _schema(epochs={"default": 1000}, batch_size={"default": 16}),
    },
    "digits": {
        "title": "Digits",
        "description": "8x8 handwritten digits (1,797 images, UCI) classified by an MLP.",
        "hparams": _schema(
            lr={"default": 0.05},
            hidden={"default": [64]},
            epochs={"default": 200},
            batch_size={"default": 64},
        ),
    },
}


def task_schema(name: str) -> dict:
    return TASKS[name]["hparams"]


def public_tasks() -> list[dict]:
    return [{"name": name, **spec} for name, spec in TASKS.items()]


# Training-set sizes (after the validation split), for the step count a run starts with.
TRAIN_SIZES = {"spiral": 600, "digits": 1797 - int(1797 * 0.2)}


def total_steps_for(task: str, hparams: dict) -> int | None:
    """Steps a fresh run of a built-in task takes at its starting batch size."""
    if task not in TRAIN_SIZES:
        return None
    return hparams["epochs"] * math.ceil(TRAIN_SIZES[task] / hparams["batch_size"])
