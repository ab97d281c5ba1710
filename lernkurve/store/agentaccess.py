"""What an AI agent (``lernkurve mcp``) may do on this database: read (on unless denied) and
steer (off unless allowed). Kept as JSON text in the ``meta`` table, like the page's layout."""

from __future__ import annotations

from lernkurve.store.database import Database
from lernkurve.store.metajson import read_object, write_object

AGENT_ACCESS_KEY = "agent.access"
DEFAULTS = {"read": True, "steer": False}


def load_access(db: Database) -> dict[str, bool]:
    """``{"read": bool, "steer": bool}``: what is stored, the defaults where nothing is."""
    stored = read_object(db, AGENT_ACCESS_KEY) or {}
    return {key: stored.get(key, default) is True for key, default in DEFAULTS.items()}


def save_access(db: Database, **changes: bool) -> dict[str, bool]:
    """Change ``read`` and/or ``steer``; what holds now."""
    unknown = set(changes) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown agent access: {', '.join(sorted(unknown))}")
    access = {**load_access(db), **{key: bool(value) for key, value in changes.items()}}
    write_object(db, AGENT_ACCESS_KEY, access)
    return access
