"""Parse, run one command, turn every failure into one line on stderr and an exit code."""

from __future__ import annotations

import sys

from lernkurve.cli_commands import (
    annotate,
    completion,
    export,
    mcp_command,
    query,
    reads,
    steers,
    watch,
)
from lernkurve.cli_commands.context import Context
from lernkurve.cli_commands.errors import CliError
from lernkurve.cli_commands.parser import OneLineParser, common


def run(argv: list[str], others: list[str]) -> int:
    """The exit code of ``lernkurve <argv>``: 0, or non-zero after one line on stderr;
    ``others``: the app's own commands (serve, train, ...), which completion names too."""
    name = argv[0] if argv else "lernkurve"
    context = None
    try:
        parser = build()
        args = parser.parse_args(argv)
        context = Context(args, parser, others)
        args.func(args, context)
        return 0
    except CliError as err:
        return _fail(name, str(err), err.code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0  # `lernkurve metrics 3 | head`: the reader has what it wanted
    except Exception as err:  # noqa: BLE001 - any failure is one line, never a traceback
        return _fail(name, f"{type(err).__name__}: {err}", 1)
    finally:
        if context is not None:
            context.close()


def build() -> OneLineParser:
    """The parser of every command (lernkurve.cli_commands.NAMES), each module adding its own."""
    parser = OneLineParser(prog="lernkurve")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    parent = common()
    for module in (reads, export, watch, steers, annotate, query, completion, mcp_command):
        module.add(sub, parent)
    return parser


def _fail(name: str, message: str, code: int) -> int:
    first = " ".join(message.split())
    print(f"lernkurve {name}: {first}", file=sys.stderr)
    return code
