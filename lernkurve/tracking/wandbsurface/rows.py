"""What a wandb ``init`` says of a run, kept in its row: tags and notes in their columns,
project, group and job type in its config (the runs list and the API show both); the project
also as the tag ``project:<name>``, which the runs list filters by."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from lernkurve.store.database import Database
from lernkurve.store.models import RunRow
from lernkurve.tracking.wandbsurface.names import warn_once

MAX_TAG, MAX_TAGS, MAX_NOTES, MAX_TEXT = 40, 20, 20_000, 200  # as the app's PATCH allows
ABOUT = ("project", "group", "job_type")


def clean_tags(tags: Any) -> list[str] | None:
    """Up to MAX_TAGS distinct texts of at most MAX_TAG characters; None when none given."""
    if tags is None:
        return None
    items = [tags] if isinstance(tags, str) else list(tags)
    clean = []
    for tag in items:
        text = str(tag).strip()
        if len(text) > MAX_TAG or len(clean) >= MAX_TAGS:
            warn_once("init(tags=...)", f"keeps {MAX_TAGS} tags of up to {MAX_TAG} characters")
        text = text[:MAX_TAG]
        if text and text not in clean and len(clean) < MAX_TAGS:
            clean.append(text)
    return clean


def describe(db: Database, run_id: int, about: dict) -> str:
    """Write tags, notes, project, group and job type into the run's row; its name."""
    extra = {key: str(about[key])[:MAX_TEXT] for key in ABOUT if about.get(key) is not None}
    tags, notes = clean_tags(about.get("tags")), about.get("notes")
    if about.get("project") is not None:  # the runs list and `lernkurve runs` filter by tag
        tags = [f"project:{about['project']}"[:MAX_TAG], *(tags or [])][:MAX_TAGS]
    query = select(RunRow.name, RunRow.config, RunRow.tags).where(RunRow.id == run_id)
    with db.write() as conn:
        name, config, held = conn.execute(query.with_for_update()).one()
        values: dict = {}
        if extra:
            values["config"] = {**(config if isinstance(config, dict) else {}), **extra}
        if tags:
            values["tags"] = list(dict.fromkeys([*(held or []), *tags]))[:MAX_TAGS]
        if notes is not None:
            values["notes"] = str(notes)[:MAX_NOTES]
        if values:
            conn.execute(update(RunRow).where(RunRow.id == run_id).values(**values))
    return name


def rename(db: Database, run_id: int, name: str) -> None:
    """``run.name = ...``: the row's name (the app may rename it as well)."""
    with db.write() as conn:
        conn.execute(update(RunRow).where(RunRow.id == run_id).values(name=name))


def row_of(db: Database, run_id: int) -> RunRow | None:
    """The run's row as it is now, None when there is no such run."""
    with db.Session() as session:
        return session.get(RunRow, run_id)
