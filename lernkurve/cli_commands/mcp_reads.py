"""The MCP server's read tools: runs, one run, its metrics (downsampled), its events."""

from __future__ import annotations

from typing import Any

from lernkurve.cli_commands.mcp_agent import Agent, Refused
from lernkurve.cli_commands.reads import key_summaries
from lernkurve.store.models import STATUSES

RECENT_EVENTS = 10
MOST_POINTS = 2000  # per key, whatever an agent asks for
RUN_FIELDS = ("id", "name", "status", "step", "total_steps", "tags", "created_at", "ended_at")


def register(server: Any, agent: Agent) -> None:
    """Add the read tools to ``server`` (an MCPServer)."""

    @server.tool()
    async def list_runs(status: str | None = None, tag: str | None = None) -> dict[str, Any]:
        """List runs, newest first (id, name, status, step, tags); ``status``: queued, running,
        paused, completed, stopped, failed or interrupted."""
        if status is not None and status not in STATUSES:
            raise Refused(f"status must be one of {', '.join(STATUSES)}")
        found = agent.read("GET", "/runs", tag=tag)["runs"]
        runs = [_brief(r) for r in found if status in (None, r["status"])]
        return {"runs": runs}

    @server.tool()
    async def show_run(run_id: int) -> dict[str, Any]:
        """One run: hparams, status, step, the last and best value of each metric key, its
        recent events (hparam changes, pauses, lr tests, ... with who asked and why)."""
        run = agent.read("GET", f"/runs/{run_id}")
        events = agent.read("GET", f"/runs/{run_id}/events")["events"][-RECENT_EVENTS:]
        metrics = key_summaries(agent.api, run_id)
        autopilot = (run.get("config") or {}).get("autopilot")
        shown = {**_brief(run), "hparams": run.get("hparams"), "autopilot": autopilot}
        return {"run": shown, "metrics": metrics, "events": events}

    @server.tool()
    async def read_metrics(
        run_id: int, keys: list[str] | None = None, since_step: int = 0, max_points: int = 200
    ) -> dict[str, Any]:
        """A run's metric points per key as [step, value] from ``since_step`` on, at most
        ``max_points`` per key (from step 0: downsampled keeping the extremes; from a later
        step: evenly spaced, the first and last kept); all keys if none given."""
        if not 2 <= max_points <= MOST_POINTS:
            raise Refused(f"max_points must be between 2 and {MOST_POINTS}")
        answer = agent.read(
            "GET",
            f"/runs/{run_id}/metrics",
            keys=",".join(keys) if keys else None,
            max_points=max_points if since_step <= 0 else None,
            since_step=since_step if since_step > 0 else None,
        )
        series = {
            key: [[step, value] for step, value, _ in rows]
            for key, rows in answer["series"].items()
        }
        return {"run_id": run_id, "series": {k: _thin(v, max_points) for k, v in series.items()}}

    @server.tool()
    async def read_events(run_id: int, kind: str | None = None, last: int = 50) -> dict[str, Any]:
        """A run's events, oldest first (the ``last`` ones; ``kind``: hparams, pause, lr_test,
        race, autopilot, checkpoint, note, ...). Each says its step, and who asked and why."""
        found = agent.read("GET", f"/runs/{run_id}/events")["events"]
        found = [e for e in found if kind in (None, e["kind"])]
        return {"events": found[-max(last, 1) :]}


def _brief(run: dict) -> dict:
    return {key: run.get(key) for key in RUN_FIELDS}


def _thin(points: list, most: int) -> list:
    """At most ``most`` points, evenly spaced, the first and the last kept."""
    if len(points) <= most:
        return points
    last = len(points) - 1
    picks = sorted({round(i * last / (most - 1)) for i in range(most)})
    return [points[i] for i in picks]
