"""Who asked for a change, and why: the marks a command carries into the event it becomes."""

from __future__ import annotations

MARKS = ("by", "reason")  # "by": the client (cli, agent, ...); "reason": the agent's words
LONGEST_REASON = 500  # characters; a longer reason is refused, not cut


def marked(payload: dict) -> dict:
    """The marks ``payload`` carries (``{"by": "agent", "reason": "..."}``), else {}."""
    return {key: payload[key] for key in MARKS if payload.get(key)}


def unmarked(payload: dict) -> dict:
    """``payload`` without its marks (what is left to apply)."""
    return {key: value for key, value in payload.items() if key not in MARKS}
