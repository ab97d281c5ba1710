"""The commands' argument parser: one subparser each, errors in one line."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from lernkurve.cli_commands.errors import CliError


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (exit 2), not usage plus a line."""

    def error(self, message: str) -> NoReturn:
        raise CliError(message, code=2)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status:
            raise CliError(message or "invalid arguments", code=status)
        if message:
            print(message, file=sys.stderr)
        raise SystemExit(0)


def common() -> argparse.ArgumentParser:
    """The options every command takes: --db and --json."""
    parent = OneLineParser(add_help=False)
    parent.add_argument("--db", metavar="PATH|URL", help="the database (default: LERNKURVE_DB)")
    parent.add_argument("--json", action="store_true", help="JSON output for scripts")
    return parent


def run_id(text: str) -> int:
    """A run id: a whole number from 1."""
    return _from_one(text, "a run id is a whole number")


def positive(text: str) -> int:
    """A whole number from 1 (a count the user gives)."""
    return _from_one(text, "a whole number")


def _from_one(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what}, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{what} from 1, got {text}")
    return value
