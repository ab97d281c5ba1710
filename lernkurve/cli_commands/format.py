"""Human output: numbers, tables and one-line event summaries."""

from __future__ import annotations

import json
from typing import Any

WIDEST_DETAIL = 100  # an event's details are cut to this many characters


def number(value: Any) -> str:
    """A value as a person reads it: floats in 6 significant digits."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "-"
    return str(value)


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """Left-aligned columns, two spaces apart."""
    cells = [header, *[[number(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]


def hparams(values: dict) -> str:
    """``lr=0.01 batch_size=32``."""
    return " ".join(f"{k}={number(v)}" for k, v in values.items()) or "-"


def event(row: dict) -> str:
    """``step 120  hparams  lr 0.01 -> 0.0003  (by cli)``."""
    payload = dict(row.get("payload") or {})
    by, reason = payload.pop("by", None), payload.pop("reason", None)
    detail = _changes(payload) if row["kind"] == "hparams" else _detail(row["kind"], payload)
    asked = f"(by {by}: {reason})" if by and reason else f"(by {by})" if by else ""
    parts = [f"step {row['step']}", row["kind"], detail, asked]
    return "  ".join(part for part in parts if part)


def _changes(payload: dict) -> str:
    changes = payload.get("changes") or {}
    return ", ".join(f"{k} {number(a)} -> {number(b)}" for k, (a, b) in changes.items())


def _detail(kind: str, payload: dict) -> str:
    if "message" in payload:
        text = str(payload["message"])
    elif kind == "lr_test":
        text = f"{payload.get('verdict')}, suggested lr {number(payload.get('suggested_lr'))}"
    else:
        text = json.dumps(payload, default=str) if payload else ""
    return text if len(text) <= WIDEST_DETAIL else text[: WIDEST_DETAIL - 3] + "..."
