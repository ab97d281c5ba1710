"""What a command is handed: its options, the API (opened on first use) and the output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from lernkurve.cli_commands.client import Api
from lernkurve.cli_commands.errors import CliError


def existing_db(db: str | None) -> str | None:
    """``--db`` as given, when it names a database that is there: a mistyped SQLite path
    would otherwise become a new, empty database (no runs, and changes made to nothing)."""
    if not db:
        return db  # LERNKURVE_DB or the user's own database, made on first use
    path = db
    if "://" in db:
        url = make_url(db)
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return db  # a server's database: the server says whether it is there
        path = url.database
    if not Path(path).expanduser().is_file():
        raise CliError(f"no database at {path}")
    return db


class Context:
    """One command's run: ``api`` opens the app on the database the first time it is read."""

    def __init__(
        self, args: argparse.Namespace, parser: argparse.ArgumentParser, others: list[str]
    ) -> None:
        self.args, self.parser = args, parser
        self.others = others  # the app's own commands (serve, train, ...), for completion
        self.json = bool(getattr(args, "json", False))
        self._api: Api | None = None

    @property
    def api(self) -> Api:
        if self._api is None:
            self._api = Api(existing_db(self.args.db))
        return self._api

    def emit(self, data: Any, lines: Iterable[str] | str) -> None:
        """``data`` as JSON with --json, else the human ``lines``."""
        if self.json:
            print(json.dumps(data, default=str))
        else:
            print(lines if isinstance(lines, str) else "\n".join(lines))
        sys.stdout.flush()

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
