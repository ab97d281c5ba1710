"""Hparam values as typed on a command line: ``lr=3e-4``, ``lr=x0.5`` (a factor), lists."""

from __future__ import annotations

import json
from typing import Any

from lernkurve.cli_commands.errors import CliError


def value(text: str) -> Any:
    """A JSON value (``3e-4``, ``32``, ``true``, ``[64,64]``), ``x0.5`` a factor, else text."""
    if text[:1] in ("x", "*") and _is_number(text[1:]):
        return {"scale": float(text[1:])}
    try:
        return json.loads(text)
    except ValueError:
        return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def pairs(items: list[str]) -> dict[str, str]:
    """``["lr=3e-4", ...]`` as ``{"lr": "3e-4"}``; a CliError for one without ``=``."""
    found = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key or not text:
            raise CliError(f"give KEY=VALUE, got {item!r}", code=2)
        found[key] = text
    return found


def assignments(items: list[str]) -> dict[str, Any]:
    """``lr=3e-4 batch_size=64`` as ``{"lr": 0.0003, "batch_size": 64}``."""
    return {key: value(text) for key, text in pairs(items).items()}


def variants(items: list[str]) -> list[dict[str, Any]]:
    """``lr=1e-3,3e-3 batch_size=32`` as one variant per value (a single value goes to each)."""
    lists = {key: [value(v) for v in text.split(",")] for key, text in pairs(items).items()}
    count = max((len(v) for v in lists.values()), default=0)
    if any(len(v) not in (1, count) for v in lists.values()):
        raise CliError("each KEY=V1,V2,... lists as many values (or just one)", code=2)
    return [{k: v[i] if len(v) > 1 else v[0] for k, v in lists.items()} for i in range(count)]
