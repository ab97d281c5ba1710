"""The page's chart layout, one per database: kept as JSON text in the ``meta`` table, so the
desktop app and every browser on the same database show the same panels in the same order."""

from __future__ import annotations

from lernkurve.store.database import Database
from lernkurve.store.metajson import read_object, write_object

PAGE_LAYOUT_KEY = "page.panels"


def load_layout(db: Database) -> dict | None:
    """The layout last saved, or None when none was (or what is stored is not a JSON object)."""
    return read_object(db, PAGE_LAYOUT_KEY)


def save_layout(db: Database, layout: dict) -> None:
    """Replace the layout in one statement (two windows saving at once: the last one wins)."""
    write_object(db, PAGE_LAYOUT_KEY, layout)
