"""The MCP server's steering tools: each a call to the REST route the page uses, marked
``"by": "agent"`` with the agent's reason, refused unless the database allows agents to steer."""

from __future__ import annotations

from typing import Any, Literal

from lernkurve.cli_commands.mcp_agent import Agent, Refused
from lernkurve.cli_commands.steers import lr_range


def register(server: Any, agent: Agent) -> None:
    """Add the steering tools to ``server`` (an MCPServer)."""

    @server.tool()
    async def set_hparams(
        run_id: int,
        values: dict[str, Any],
        reason: str,
        mode: Literal["scale", "override"] = "scale",
    ) -> dict[str, Any]:
        """Change a live run's hparams at its next step: {"lr": 3e-4} or a factor
        {"lr": {"scale": 0.5}}; mode "scale" keeps lr's schedule (scaled), "override" pins it.
        ``reason``: why, recorded with the change."""
        if "lr_mode" in values:
            raise Refused("give the lr mode as mode, not in values")
        return agent.steer("PATCH", f"/runs/{run_id}/hparams", {**values, "lr_mode": mode}, reason)

    @server.tool()
    async def release_lr(run_id: int, reason: str) -> dict[str, Any]:
        """Hand a pinned lr (set with mode "override") back to its schedule."""
        return agent.steer("POST", f"/runs/{run_id}/control", {"action": "release"}, reason)

    @server.tool()
    async def control_run(
        run_id: int, action: Literal["pause", "resume", "step", "stop", "checkpoint"], reason: str
    ) -> dict[str, Any]:
        """Pause, resume, run one step (while paused), stop, or checkpoint a live run."""
        return agent.steer("POST", f"/runs/{run_id}/control", {"action": action}, reason)

    @server.tool()
    async def lr_test(
        run_id: int,
        reason: str,
        min_lr: float | None = None,
        max_lr: float | None = None,
        steps: int = 100,
        metric: str | None = None,
    ) -> dict[str, Any]:
        """Start an LR range test from where the run is (its state is put back after); its
        result (a suggested lr) comes as an lr_test event on the run."""
        low, high = lr_range(agent.row(run_id))
        body = {"min_lr": low if min_lr is None else min_lr, "steps": steps}
        body |= {"max_lr": high if max_lr is None else max_lr}
        body |= {"metric": metric} if metric else {}
        return agent.steer("POST", f"/runs/{run_id}/lr_test", body, reason)

    @server.tool()
    async def race(
        run_id: int,
        variants: list[dict[str, Any]],
        steps: int,
        reason: str,
        metric: str | None = None,
        mode: Literal["min", "max"] = "min",
    ) -> dict[str, Any]:
        """Race 2-8 variants of the live hparams ([{"lr": 1e-3}, {"lr": 3e-3}]) for ``steps``
        steps each from here; the run goes on with the best (a race event tells which)."""
        body = {"variants": variants, "steps": steps, "mode": mode}
        body |= {"metric": metric} if metric else {}
        return agent.steer("POST", f"/runs/{run_id}/race", body, reason)

    @server.tool()
    async def autopilot(
        run_id: int, switch: Literal["on", "off", "undo"], reason: str
    ) -> dict[str, Any]:
        """Turn a run's autopilot on or off, or undo its last action."""
        body = {"undo": True} if switch == "undo" else {"enabled": switch == "on"}
        return agent.steer("PATCH", f"/runs/{run_id}/autopilot", body, reason)
