"""``query "SQL"``: one read-only SQL statement on the database (SQLite mode=ro and query_only;
PostgreSQL read-only transactions only, one prepared statement), so a statement that writes is
refused by the database itself."""

from __future__ import annotations

import argparse
import sqlite3
from typing import Any
from urllib.request import pathname2url

from lernkurve.cli_commands import format as fmt
from lernkurve.cli_commands.context import Context, existing_db
from lernkurve.cli_commands.errors import CliError
from lernkurve.cli_commands.parser import positive

MAX_ROWS = 10_000  # rows printed at most (--limit changes it)
READ_ONLY_SESSION = "-c default_transaction_read_only=on"  # PostgreSQL's, for every transaction


def add(sub, parent: argparse.ArgumentParser) -> None:
    """The query command's parser."""
    p = sub.add_parser("query", parents=[parent], help="read-only SQL (tables: runs, metrics, ...)")
    p.add_argument("sql", metavar="SQL")
    p.add_argument("--limit", type=positive, default=MAX_ROWS, help=f"rows at most ({MAX_ROWS})")
    p.set_defaults(func=query)


def query(args: argparse.Namespace, ctx: Context) -> None:
    """Run one statement read-only; its rows as a table, or JSON objects with --json."""
    from lernkurve.store.database import resolve_url

    url = resolve_url(existing_db(args.db))
    reader = _sqlite if url.startswith("sqlite") else _postgres
    try:
        columns, rows = reader(url, args.sql, args.limit)
    except Exception as err:  # noqa: BLE001 - the database's own refusal, in one line
        raise CliError(_why(err)) from err
    data = {"columns": columns, "rows": [dict(zip(columns, r, strict=True)) for r in rows]}
    ctx.emit(data, fmt.table(columns, rows) if columns else "(no rows)")


def _why(err: Exception) -> str:
    text = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
    if "readonly" in text or "read-only" in text or "read only" in text:
        return f"refused: query is read-only ({text})"
    return f"query failed: {text}"


def _sqlite(url: str, sql: str, limit: int) -> tuple[list[str], list[list[Any]]]:
    from sqlalchemy.engine import make_url

    from lernkurve.store import liteblocks

    path = make_url(url).database or ""
    conn = sqlite3.connect(f"file:{pathname2url(path)}?mode=ro", uri=True)
    try:
        liteblocks.register(conn)  # the metrics view reads the point blocks through these
        conn.execute("PRAGMA query_only = ON")
        cursor = conn.execute(sql)
        return _columns(cursor.description), [_plain(r) for r in cursor.fetchmany(limit)]
    finally:
        conn.close()


def _postgres(url: str, sql: str, limit: int) -> tuple[list[str], list[list[Any]]]:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    # psycopg 3 whatever driver the URL names: its prepared statement is one statement only
    # ("COMMIT; DELETE ..." in the simple protocol would end the read-only transaction and
    # then write), and every transaction of the connection starts read-only.
    driver = make_url(url).set(drivername="postgresql+psycopg")
    engine = create_engine(driver, connect_args={"options": READ_ONLY_SESSION})
    try:
        with engine.connect() as conn:
            cursor = conn.connection.driver_connection.cursor()
            cursor.execute(sql, prepare=True)
            columns = _columns(cursor.description)
            rows = [_plain(r) for r in cursor.fetchmany(limit)] if columns else []
            conn.rollback()
        return columns, rows
    finally:
        engine.dispose()


def _columns(description) -> list[str]:
    return [d[0] for d in description or []]


def _plain(row) -> list[Any]:
    """A row's values as text/number; a blob as ``<N bytes>``."""
    return [f"<{len(v)} bytes>" if isinstance(v, bytes | memoryview) else v for v in row]
