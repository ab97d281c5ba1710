"""``lernkurve mcp``: a Model Context Protocol server on stdio, for AI agents (the official
SDK, ``pip install "lernkurve[mcp]"``). Its tools call the app's REST API in this process."""

from __future__ import annotations

from lernkurve import __version__
from lernkurve.cli_commands import mcp_reads, mcp_steers
from lernkurve.cli_commands.mcp_agent import Agent

INSTRUCTIONS = (
    "Lernkurve: PyTorch training runs, watched and steered live. Read with list_runs, "
    "show_run, read_metrics, read_events. Steering tools (set_hparams, release_lr, control_run, "
    "lr_test, race, autopilot) act at the run's next step; each needs a reason, which the "
    "person sees with the change on the run's charts. Steering is off unless the person allowed "
    "it for this database (`lernkurve mcp allow-steering`)."
)


def build(agent: Agent):
    """The MCPServer with every tool on ``agent``'s database."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(
        "lernkurve", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    mcp_reads.register(server, agent)
    mcp_steers.register(server, agent)
    return server


def serve(db: str | None) -> None:
    """Serve MCP on stdin/stdout until the client closes them."""
    agent = Agent(db)
    try:
        build(agent).run("stdio")
    finally:
        agent.close()
