"""``lernkurve mcp [allow-steering|deny-steering|allow-reading|deny-reading|status]``: serve
MCP on stdio for AI agents, or change what an agent may do on this database."""

from __future__ import annotations

import argparse

from lernkurve.cli_commands.context import Context
from lernkurve.cli_commands.errors import CliError
from lernkurve.store.agentaccess import load_access, save_access

SWITCHES = {
    "allow-steering": {"steer": True},
    "deny-steering": {"steer": False},
    "allow-reading": {"read": True},
    "deny-reading": {"read": False},
    "status": {},
}


def add(sub, parent: argparse.ArgumentParser) -> None:
    """The mcp command's parser."""
    p = sub.add_parser(
        "mcp", parents=[parent], help="an MCP server on stdio for AI agents (steering: off)"
    )
    p.add_argument("switch", nargs="?", choices=("serve", *SWITCHES), default="serve")
    p.set_defaults(func=mcp)


def mcp(args: argparse.Namespace, ctx: Context) -> None:
    """Serve MCP on stdio, or switch the database's agent access and say what holds."""
    if args.switch == "serve":
        _serve(args.db)
        return
    db = ctx.api.db
    changes = SWITCHES[args.switch]
    access = save_access(db, **changes) if changes else load_access(db)
    ctx.emit({"agent_access": access}, _describe(access))


def _describe(access: dict[str, bool]) -> str:
    def word(on: bool) -> str:
        return "allowed" if on else "not allowed"

    return (
        f"AI agents (lernkurve mcp) on this database: reading {word(access['read'])}, "
        f"steering {word(access['steer'])}"
    )


def _serve(db: str | None) -> None:
    try:
        from lernkurve.cli_commands.mcp_server import serve
    except ImportError as err:
        if (err.name or "").partition(".")[0] != "mcp":
            raise
        raise CliError('needs the MCP SDK: pip install "lernkurve[mcp]"', code=2) from err
    serve(db)
