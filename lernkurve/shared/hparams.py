"""Hyperparameter schemas and their validation, shared by the webserver and the training side.

A schema maps a name to a spec: ``{"type": "float"|"int"|"choice"|"int_list", "default": ...,
"min": ..., "max": ..., "choices": [...], "live": bool, "log": bool, "help": str}``.
"""

from __future__ import annotations

import json
import math
from typing import Any

# "value": any plain JSON value (text, list, null, ...) a script's config holds, fixed at start.
TYPES = ("float", "int", "choice", "int_list", "str", "value")
MAX_VALUE_CHARS = 10_000  # a "value" as JSON
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
    if kind == "value":
        return _check_plain(key, value)
    raise HParamError(key, f"{key} has an unknown type {kind!r}")


def _check_plain(key: str, value: Any) -> Any:
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise HParamError(key, f"{key} must be plain JSON data") from None
    if len(text) > MAX_VALUE_CHARS:
        raise HParamError(key, f"{key} must be at most {MAX_VALUE_CHARS} characters as JSON")
    return value


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


def validate_changes(schema: dict, current: dict | None, values: Any) -> dict:
    """Live changes as a client asks for them: a value, or ``{"scale": f}`` for a decimal number
    times f when the change lands. With ``current`` (the values now), what a factor gives now
    must lie in the schema too."""
    if not isinstance(values, dict):
        raise HParamError(None, "hparams must be a JSON object")
    checked = validate(
        schema, {k: v for k, v in values.items() if not isinstance(v, dict)}, live_only=True
    )
    for key, value in values.items():
        if isinstance(value, dict):
            checked[key] = {"scale": _checked_scale(schema, current, key, value)}
    return {key: checked[key] for key in values}


def _checked_scale(schema: dict, current: dict | None, key: str, value: dict) -> float:
    factor = value.get("scale")
    if set(value) != {"scale"}:
        raise HParamError(key, f'{key}: a change is a value or {{"scale": factor}}')
    if isinstance(factor, bool) or not isinstance(factor, (int, float)):
        raise HParamError(key, f"{key}: scale must be a number, got {type(factor).__name__}")
    if not math.isfinite(factor) or factor <= 0:
        raise HParamError(key, f"{key}: scale must be a finite number above 0, got {factor}")
    spec = schema.get(key)
    if spec is None:
        raise HParamError(key, f"unknown hyperparameter {key!r}")
    if spec["type"] != "float":
        raise HParamError(key, f"{key} is a {spec['type']}: only a decimal number can be scaled")
    if current is None:
        return float(factor)
    now = current.get(key)
    if isinstance(now, bool) or not isinstance(now, (int, float)) or not now:
        raise HParamError(key, f"{key} is {now}: there is nothing to scale")
    validate(schema, {key: now * factor}, live_only=True)  # what it gives now must be allowed
    return float(factor)


def defaults(schema: dict) -> dict:
    return {key: spec.get("default") for key, spec in schema.items()}


def resolve(schema: dict, values: Any) -> dict:
    """Defaults overlaid with the checked values: the full hparams a run starts with."""
    return {**defaults(schema), **validate(schema, values or {})}


def schema_from_config(config: dict, live: list[str] | None) -> dict:
    """Build a schema for a user's script from its plain config values and live names.

    Only numbers and true/false can be live: they are what a running loop can take in.
    """
    live = set(live or [])
    unknown = live - set(config)
    if unknown:
        key = sorted(unknown)[0]
        raise HParamError(key, f"live name {key!r} is not a key of config")
    schema = {}
    for key, value in config.items():
        spec = _infer_spec(key, value, key in live)
        if key in live and spec["type"] not in LIVE_TYPES:
            raise HParamError(
                key,
                f"config[{key!r}] is a {type(value).__name__} ({_short(value)}): only numbers and "
                "true/false can change while the run trains",
            )
        schema[key] = spec
    return schema


LIVE_TYPES = ("float", "int", "choice")
INFER_RANGE = 1000  # an inferred number may move this factor either way from its start value
LOG_KEYS = ("lr", "learning_rate", "weight_decay", "wd", "eps")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
    if isinstance(value, int) and abs(value) <= MAX_INT:
        bounds = _bounds(value)
        if value > 0:
            bounds["min"] = 1  # counts and sizes: at least one
        bounds["max"] = min(bounds["max"], MAX_INT)
        return {"type": "int", **bounds, "default": value, "live": live}
    if isinstance(value, float) and math.isfinite(value):
        spec = {"type": "float", **_bounds(value), "default": value, "live": live}
        return {**spec, "log": key.lower() in LOG_KEYS or "lr" in key.lower().split("_")}
    if _is_int_list(value):
        return {"type": "int_list", "default": value, "live": live}
    if isinstance(value, str) and len(value) <= 200:
        return {"type": "str", "default": value, "live": live}
    return {"type": "value", "default": value, "live": live}


def _is_int_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and 1 <= len(value) <= MAX_LIST
        and all(isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_INT for v in value)
    )


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
