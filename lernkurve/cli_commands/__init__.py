"""`lernkurve runs|show|metrics|set|...`: every read and every steer from a terminal.

The commands run the app in this process (Flask's test client on the database, no server, no
worker) and call its REST API, so each steer gets the page's validation and events, marked
``"by": "cli"``. Importing this package is cheap: the app loads when a command runs.
"""

from __future__ import annotations

NAMES = (
    "runs",
    "show",
    "metrics",
    "events",
    "set",
    "release",
    "pause",
    "resume",
    "step",
    "stop",
    "checkpoint",
    "lr-test",
    "race",
    "autopilot",
    "tag",
    "note",
    "export",
    "query",
    "rm",
    "completion",
    "mcp",
)


def main(argv: list[str], others: list[str]) -> int:
    """Run one command (``argv[0]`` is its name); the exit code. ``others``: the app's own
    commands (serve, train, ...), for completion."""
    from lernkurve.cli_commands.dispatch import run

    return run(argv, others)
