"""What the MCP tools share: the app's REST API marked ``"by": "agent"``, the database's
agent access (read on, steer off unless allowed) and errors an agent can act on."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from lernkurve.cli_commands.client import Api
from lernkurve.cli_commands.errors import CliError
from lernkurve.shared.marks import LONGEST_REASON
from lernkurve.store.agentaccess import load_access

AGENT = "agent"  # the X-Lernkurve-By mark: the run's events for an agent's steers say so
READING_OFF = (
    "an AI agent may not read runs in this database (reading is off). "
    "To allow it run `lernkurve mcp allow-reading`"
)


class Refused(ToolError):
    """What an agent is told instead of an answer, in one line (the tool call's error)."""


class Agent:
    """The REST API as an agent uses it: reads checked against the access, steers with a reason."""

    def __init__(self, db: str | None) -> None:
        self.api = Api(db, client=AGENT)

    def read(self, method: str, path: str, **query: Any) -> Any:
        """A read route's answer; Refused when reading is off or the API says no."""
        if not load_access(self.api.db)["read"]:
            raise Refused(READING_OFF)
        return self._call(method, path, None, "", **query)

    def row(self, run_id: int) -> dict:
        """The run's row for a steer's own use (an lr test's default range), never shown to
        the agent: a steer allowed with reading off must not be refused for reading."""
        return self._call("GET", f"/runs/{run_id}", None, "")

    def steer(self, method: str, path: str, body: dict, reason: str) -> Any:
        """A steer's answer, the reason recorded with its event; Refused as the API refuses
        (with steering off: how to allow it)."""
        reason = " ".join(str(reason).split())
        if not reason:
            raise Refused("give a reason: it is recorded with the change, for the person to read")
        if len(reason) > LONGEST_REASON:
            raise Refused(f"the reason must be at most {LONGEST_REASON} characters")
        return self._call(method, path, body, reason)

    def _call(self, method: str, path: str, body: dict | None, why: str, **query: Any) -> Any:
        try:
            return self.api.call(method, path, body, why=why, **query)
        except CliError as err:
            raise Refused(str(err)) from None

    def close(self) -> None:
        self.api.close()
