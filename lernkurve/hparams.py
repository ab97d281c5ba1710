"""Hyperparameter schemas and their validation, shared by the webserver and the training side.

A schema maps a name to a spec: ``{"type": "float"|"int"|"choice"|"int_list", "default": ...,
"min": ..., "max": ..., "choices": [...], "live": bool, "log": bool, "help": str}``.
"""

from __future__ import annotations

import math
from typing import Any

TYPES = ("float", "int", "choice", "int_list", "str")
MAX_LIST = 16
MAX_INT = 2**53  # beyond this a JSON number is not a sane hyperparameter (and overflows floats)


class HParamError(ValueError):
    """A value the schema refuses; ``key`` names the offending hyperparameter."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def _check_number(key: str, spec: dict, value: Any) -> float | int:
    kind = spec["type"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HParamError(key, f"{key} must be a number, got {type(value).__name__}")
    if kind == "int" and not isinstance(value, int):
        if not float(value).is_integer():
            raise HParamError(key, f"{key} must be a whole number, got {value}")
        value = int(value)
    if isinstance(value, int) and abs(value) > MAX_INT or not math.isfinite(value):
        raise HParamError(key, f"{key} must be finite")
    low, high = spec.get("min"), spec.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        raise HParamError(key, f"{key} must be {_span(low, high)}, got {value}")
    return float(value) if kind == "float" else int(value)


def _span(low, high) -> str:
    """The allowed range in words, naming only the bounds there are."""
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _check_value(key: str, spec: dict, value: Any) -> Any:
    kind = spec["type"]
    if kind in ("float", "int"):
        return _check_number(key, spec, value)
    if kind == "choice":
        # Exact type too: 1 == True in Python, but "1" is no answer to a yes/no choice.
        if not any(type(value) is type(c) and value == c for c in spec["choices"]):
            raise HParamError(key, f"{key} must be one of {', '.join(map(str, spec['choices']))}")
        return value
    if kind == "int_list":
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST:
            raise HParamError(key, f"{key} must be a list of 1 to {MAX_LIST} whole numbers")
        item_spec = {"type": "int", "min": spec.get("min"), "max": spec.get("max")}
        return [_check_number(key, item_spec, v) for v in value]
    if kind == "str":
        if not isinstance(value, str) or len(value) > spec.get("max", 200):
            raise HParamError(
                key, f"{key} must be a text of at most {spec.get('max', 200)} characters"
            )
        return value
    raise HParamError(key, f"{key} has an unknown type {kind!r}")


def validate(schema: dict, values: Any, *, live_only: bool = False) -> dict:
    """Return the checked values; raise HParamError on the first refused key, changing nothing."""
    if not isinstance(values, dict):
        raise HParamError(None, "hparams must be a JSON object")
    checked = {}
    for key, value in values.items():
        spec = schema.get(key)
        if spec is None:
            raise HParamError(key, f"unknown hyperparameter {key!r}")
        if live_only and not spec.get("live"):
            raise HParamError(
                key, f"{key} is fixed at start and cannot change while the run trains"
            )
        checked[key] = _check_value(key, spec, value)
    return checked


def defaults(schema: dict) -> dict:
    return {key: spec.get("default") for key, spec in schema.items()}


def resolve(schema: dict, values: Any) -> dict:
    """Defaults overlaid with the checked values: the full hparams a run starts with."""
    return {**defaults(schema), **validate(schema, values or {})}


def schema_from_config(config: dict, live: list[str] | None) -> dict:
    """Build a schema for a user's script from its plain config values and live names."""
    live = set(live or [])
    unknown = live - set(config)
    if unknown:
        raise HParamError(sorted(unknown)[0], f"live name {sorted(unknown)[0]!r} is not in config")
    schema = {}
    for key, value in config.items():
        schema[key] = _infer_spec(key, value, key in live)
    return schema


INFER_RANGE = 1000  # an inferred number may move this factor either way from its start value
LOG_KEYS = ("lr", "learning_rate", "weight_decay", "wd", "eps")


def _bounds(value: float | int) -> dict:
    """A sane range around a script's start value: zero stays possible, 1e6 for 6e-4 is not."""
    if value > 0:
        return {"min": 0, "max": value * INFER_RANGE}
    if value < 0:
        return {"min": value * INFER_RANGE, "max": 0}
    return {"min": 0, "max": 1 if isinstance(value, float) else INFER_RANGE}


def _infer_spec(key: str, value: Any, live: bool) -> dict:
    if isinstance(value, bool):
        return {"type": "choice", "choices": [True, False], "default": value, "live": live}
    if isinstance(value, int):
        bounds = _bounds(value)
        if value > 0:
            bounds["min"] = 1  # counts and sizes: at least one
        bounds["max"] = min(bounds["max"], MAX_INT)
        return {"type": "int", **bounds, "default": value, "live": live}
    if isinstance(value, float):
        spec = {"type": "float", **_bounds(value), "default": value, "live": live}
        return {**spec, "log": key.lower() in LOG_KEYS or "lr" in key.lower().split("_")}
    if isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return {"type": "int_list", "default": value, "live": live}
    return {"type": "str", "default": str(value), "live": live}


def check_schema(schema: Any) -> dict:
    """Check a schema a user wrote by hand; raise HParamError if it is malformed."""
    if not isinstance(schema, dict):
        raise HParamError(None, "schema must be a dict of name -> spec")
    for key, spec in schema.items():
        if not isinstance(spec, dict) or spec.get("type") not in TYPES:
            raise HParamError(key, f"{key}: spec needs a type, one of {', '.join(TYPES)}")
        if "default" not in spec:
            raise HParamError(key, f"{key}: spec needs a default")
        _check_value(key, spec, spec["default"])
    return schema
