"""Databases survive upgrades: Alembic migrations on open, newer schemas refused in one line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import create_engine

from lernkurve.store import liteblocks
from lernkurve.store.database import Database
from lernkurve.store.migrate import HEAD, SchemaTooNew
from support import ROOT, migrate_to, schema_differences

FIRST_RELEASE_ROWS = {
    "runs": (
        "INSERT INTO runs (id, name, task, status, hparams, config, step, total_steps, "
        "created_at, started_at, ended_at, heartbeat_at, error, parent_id, parent_step) VALUES "
        "(1, 'old', 'spiral', 'completed', ?, '{}', 30, 30, 1.0, 1.0, 2.0, 2.0, NULL, NULL, NULL)",
        (json.dumps({"lr": 0.1}),),
    ),
    "metrics": ("INSERT INTO metrics VALUES (1, 1, 'loss', 0, 0.5, 1.5)", ()),
    "commands": ("INSERT INTO commands VALUES (1, 1, 'pause', '{}', 1.0, 1.1)", ()),
    "events": ("INSERT INTO events VALUES (1, 1, 3, 1.2, 'pause', '{}')", ()),
    "checkpoints": (  # two rows at one step, as two quick clicks left them
        "INSERT INTO checkpoints VALUES (1, 1, 10, '/x/step-10.pt', 1.3), "
        "(2, 1, 10, '/x/step-10.pt', 1.35)",
        (),
    ),
    "snapshots": ("INSERT INTO snapshots VALUES (1, 1, 5, 'boundary', '{}', 1.4)", ()),
    "metric_buckets": ("INSERT INTO metric_buckets VALUES (1, 'loss', 0, 0, 0.5, 0, 0.5, 1.5)", ()),
}


def upgrade_to(path, revision: str) -> None:
    """Build a SQLite file with the migrations alone, up to ``revision``."""
    migrate_to(f"sqlite:///{path}", revision)


def first_release_database(path) -> None:
    """What the first release left on users' disks: its tables, rows, no version table."""
    upgrade_to(path, "0001")
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE alembic_version")
        for sql, args in FIRST_RELEASE_ROWS.values():
            conn.execute(sql, args)


def test_a_first_release_database_opens_migrates_and_keeps_every_row(tmp_path):
    path = tmp_path / "old.db"
    first_release_database(path)
    db = Database(path)
    with sqlite3.connect(path) as conn:
        liteblocks.register(conn)  # the metrics view reads its blocks with Lernkurve's functions
        for table in FIRST_RELEASE_ROWS:
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,), table
        assert conn.execute("SELECT id, created_at FROM checkpoints").fetchone() == (2, 1.35)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD,)
        assert conn.execute("SELECT pending FROM runs").fetchone() == (None,)
        assert conn.execute("SELECT last_metric_id FROM runs").fetchone() == (1,)  # its point
        assert conn.execute("SELECT hparams FROM runs").fetchone() == ('{"lr": 0.1}',)
    assert len(db.instance_id()) == 32  # the meta table the migration added works
    db.dispose()


def test_migrations_build_exactly_the_models_schema(tmp_path):
    path = tmp_path / "migrated.db"
    upgrade_to(path, "head")
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        differences = schema_differences(connection)
    engine.dispose()
    assert differences == []


def test_a_database_from_a_newer_release_is_refused_in_one_line(tmp_path):
    path = tmp_path / "new.db"
    Database(path).dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaTooNew, match="newer Lernkurve"):
        Database(path)
    out = subprocess.run(
        [sys.executable, str(ROOT / "webserver.py"), "--db", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "newer Lernkurve (schema 9999" in out.stderr
