"""The chart panels' layout (which are pinned, the order moved panels keep, which are
collapsed), kept in the database for every window on it (docs/api.md)."""

from __future__ import annotations

from lernkurve.store.layout import load_layout, save_layout
from lernkurve.web.rest import ApiError, api_blueprint, db, json_body

bp = api_blueprint("layout")

# The most names each list may hold (static/js/layout.js keeps to them), and a name's length:
# a panel is named after a key (at most 100 characters) or a part of one.
LIMITS = {"order": 200, "pinned": 50, "collapsed": 200}
MAX_NAME = 100


@bp.get("/layout")
def get_layout():
    """The layout as last saved; lists are empty until one is."""
    saved = load_layout(db()) or {}
    return {field: stored_names(saved.get(field)) for field in LIMITS}


def stored_names(names) -> list[str]:
    """What was saved, as names: an older or hand-edited value never breaks the page."""
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


@bp.put("/layout")
def put_layout():
    """Replace the layout: {"order", "pinned", "collapsed"}, each a list of panel names."""
    layout = checked_layout(json_body())
    save_layout(db(), layout)
    return layout


def checked_layout(body: dict) -> dict:
    unknown = sorted(set(body) - set(LIMITS))
    if unknown:
        raise ApiError(400, "invalid_layout", f"unknown field {unknown[0]!r}", key=unknown[0])
    return {field: checked_names(field, body.get(field, [])) for field in LIMITS}


def checked_names(field: str, names) -> list[str]:
    if not isinstance(names, list) or len(names) > LIMITS[field]:
        message = f"{field} must be a list of at most {LIMITS[field]} panel names"
        raise ApiError(400, "invalid_layout", message, key=field)
    for name in names:
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
            message = f"each name in {field} must be a text of 1 to {MAX_NAME} characters"
            raise ApiError(400, "invalid_layout", message, key=field)
    if len(set(names)) != len(names):
        raise ApiError(400, "invalid_layout", f"{field} names a panel twice", key=field)
    return names
