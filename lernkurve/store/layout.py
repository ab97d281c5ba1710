"""The page's chart layout, one per database: kept as JSON text in the ``meta`` table, so the
desktop app and every browser on the same database show the same panels in the same order."""

from __future__ import annotations

import json

from sqlalchemy.dialects import postgresql, sqlite

from lernkurve.store.database import Database
from lernkurve.store.models import Meta

PAGE_LAYOUT_KEY = "page.panels"


def load_layout(db: Database) -> dict | None:
    """The layout last saved, or None when none was (or what is stored is not a JSON object)."""
    with db.Session() as session:
        row = session.get(Meta, PAGE_LAYOUT_KEY)
    if row is None:
        return None
    try:
        layout = json.loads(row.value)
    except ValueError:
        return None
    return layout if isinstance(layout, dict) else None


def save_layout(db: Database, layout: dict) -> None:
    """Replace the layout in one statement (two windows saving at once: the last one wins)."""
    dialect = sqlite if db.is_sqlite else postgresql
    value = json.dumps(layout, separators=(",", ":"))
    statement = dialect.insert(Meta).values(key=PAGE_LAYOUT_KEY, value=value)
    statement = statement.on_conflict_do_update(index_elements=[Meta.key], set_={"value": value})
    with db.Session() as session:
        session.execute(statement)
        session.commit()
