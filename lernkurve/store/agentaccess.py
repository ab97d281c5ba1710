"""What an AI agent (``lernkurve mcp``) may do on this database: read (on unless denied) and
steer (off unless allowed). Kept as JSON text in the ``meta`` table, like the page's layout."""

from __future__ import annotations

import json

from sqlalchemy.dialects import postgresql, sqlite

from lernkurve.store.database import Database
from lernkurve.store.models import Meta

AGENT_ACCESS_KEY = "agent.access"
DEFAULTS = {"read": True, "steer": False}


def load_access(db: Database) -> dict[str, bool]:
    """``{"read": bool, "steer": bool}``: what is stored, the defaults where nothing is."""
    with db.Session() as session:
        row = session.get(Meta, AGENT_ACCESS_KEY)
    try:
        stored = json.loads(row.value) if row is not None else {}
    except ValueError:
        stored = {}
    stored = stored if isinstance(stored, dict) else {}
    return {key: stored.get(key, default) is True for key, default in DEFAULTS.items()}


def save_access(db: Database, **changes: bool) -> dict[str, bool]:
    """Change ``read`` and/or ``steer``; what holds now."""
    unknown = set(changes) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown agent access: {', '.join(sorted(unknown))}")
    access = {**load_access(db), **{key: bool(value) for key, value in changes.items()}}
    dialect = sqlite if db.is_sqlite else postgresql
    value = json.dumps(access, separators=(",", ":"))
    statement = dialect.insert(Meta).values(key=AGENT_ACCESS_KEY, value=value)
    statement = statement.on_conflict_do_update(index_elements=[Meta.key], set_={"value": value})
    with db.Session() as session:
        session.execute(statement)
        session.commit()
    return access
