"""JSON objects kept under a key of the ``meta`` table (the page layout, agent access)."""

from __future__ import annotations

import json

from sqlalchemy.dialects import postgresql, sqlite

from lernkurve.store.database import Database
from lernkurve.store.models import Meta


def read_object(db: Database, key: str) -> dict | None:
    """The JSON object stored under ``key``; None when none is (or it is not an object)."""
    with db.Session() as session:
        row = session.get(Meta, key)
    if row is None:
        return None
    try:
        value = json.loads(row.value)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def write_object(db: Database, key: str, value: dict) -> None:
    """Replace what ``key`` holds in one statement (two writers at once: the last one wins)."""
    dialect = sqlite if db.is_sqlite else postgresql
    text = json.dumps(value, separators=(",", ":"))
    statement = dialect.insert(Meta).values(key=key, value=text)
    statement = statement.on_conflict_do_update(index_elements=[Meta.key], set_={"value": text})
    with db.Session() as session:
        session.execute(statement)
        session.commit()
