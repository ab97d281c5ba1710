"""Bring a database to this release's schema (Alembic), or refuse one from a newer release.

Opening a database that is already at the head costs one SELECT; Alembic is imported only when
there is something to migrate. A new, empty database gets the models' tables at once and is
stamped HEAD (Alembic's own recipe; a test keeps models and migrations equal). A database from
before migrations existed (tables, no ``alembic_version``) is the first release's schema: it is
stamped 0001 and upgraded from there.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, MetaData, inspect, text


class Opened(Protocol):
    """The database being opened (lernkurve.store.database.Database)."""

    engine: Engine
    is_sqlite: bool

    def write(self) -> AbstractContextManager[Connection]: ...


HEAD = "0010"
FIRST = "0001"
MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaTooNew(RuntimeError):
    """The database was written by a newer Lernkurve than this one."""


def revision_of(connection) -> str | None:
    """The schema revision a database is at; None when it has no version table."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(db: Opened, metadata: MetaData) -> None:
    """Upgrade the database to HEAD; other processes opening it at once wait for this one."""
    with db.engine.connect() as connection:
        if revision_of(connection) == HEAD:
            return
    with db.write() as connection:
        if not db.is_sqlite:  # on SQLite db.write() already holds the write lock
            connection.execute(text("SELECT pg_advisory_xact_lock(7312)"))
        revision = revision_of(connection)
        if revision is None and not inspect(connection).get_table_names():
            _create(connection, metadata)
        elif revision != HEAD:
            _upgrade(connection, revision)


def _create(connection, metadata: MetaData) -> None:
    from lernkurve.store import liteblocks, pgblocks

    # metrics: a view over blocks of points on both stores
    metadata.create_all(connection, [t for t in metadata.sorted_tables if t.name != "metrics"])
    (pgblocks if connection.dialect.name == "postgresql" else liteblocks).create(connection)
    connection.execute(
        text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    )
    connection.execute(text("INSERT INTO alembic_version VALUES (:head)"), {"head": HEAD})


def _upgrade(connection, revision: str | None) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if revision is not None and revision not in known:
        raise SchemaTooNew(
            f"written by a newer Lernkurve (schema {revision}; this one knows up to {HEAD}): "
            "update Lernkurve to open it"
        )
    if revision is None and inspect(connection).has_table("runs"):
        command.stamp(config, FIRST)  # made by the first release, before migrations
    command.upgrade(config, "head")
