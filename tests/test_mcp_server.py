"""`lernkurve mcp` as an AI agent's client runs it: a subprocess driven over stdio by the MCP
SDK's own client, beside a live script (tests/scripts/trial.py records the lr the optimizer
used at each step) on a real SQLite database."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("mcp")

from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import anyio  # noqa: E402
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from scripting import LiveCli, lrs_after  # noqa: E402

from support import open_sqlite, wait_for  # noqa: E402

READS = {"list_runs", "show_run", "read_metrics", "read_events"}
STEERS = {"set_hparams", "release_lr", "control_run", "lr_test", "race", "autopilot"}
WHY = "loss plateaued for 200 steps: halving the lr — ü"


@pytest.fixture(scope="module")
def live(live_cli):
    return live_cli


def agent(live: LiveCli, calls):
    """Run ``calls(session)`` in a session with `lernkurve mcp` on the live database."""
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "lernkurve.cli", "mcp"], env=live.env
    )

    async def session():
        async with stdio_client(server) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            return await calls(s)

    # A thread of its own: a session-scoped Playwright (the browser tests) keeps an asyncio
    # loop running in this worker's main thread, where anyio.run refuses to start another.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, session).result()


def commands(live: LiveCli) -> int:
    """How many commands the run was sent (a refused steer sends none)."""
    with open_sqlite(live.db) as conn:
        query = "SELECT count(*) FROM commands WHERE run_id = ?"
        return conn.execute(query, (live.run_id,)).fetchone()[0]


def text(result) -> str:
    return " ".join(c.text for c in result.content)


def test_lists_its_tools_and_reads_a_live_run(live):
    async def calls(s):
        tools = {t.name: t for t in (await s.list_tools()).tools}
        runs = await s.call_tool("list_runs", {"status": "running"})
        shown = await s.call_tool("show_run", {"run_id": live.run_id})
        points = {"run_id": live.run_id, "keys": ["loss"], "since_step": 3, "max_points": 4}
        metrics = await s.call_tool("read_metrics", points)
        missing = await s.call_tool("show_run", {"run_id": 999_999})
        return tools, runs, shown, metrics, missing

    tools, runs, shown, metrics, missing = agent(live, calls)
    assert set(tools) == READS | STEERS
    assert all("reason" in tools[name].input_schema["required"] for name in STEERS)
    assert [r["id"] for r in runs.structured_content["runs"]] == [live.run_id]
    run = shown.structured_content
    assert run["run"]["status"] == "running" and run["run"]["hparams"]["lr"] == 0.01
    assert run["metrics"]["loss"]["last_step"] > 5 and run["metrics"]["loss"]["mode"] == "min"
    series = metrics.structured_content["series"]
    assert set(series) == {"loss"} and len(series["loss"]) == 4
    assert series["loss"][0][0] == 3 and series["loss"][-1][0] > 5
    assert missing.is_error and "no run with id 999999" in text(missing)


def test_steers_only_when_allowed_marked_by_the_agent_with_its_reason(live):
    set_lr = {"run_id": live.run_id, "values": {"lr": 3e-4}, "reason": WHY}
    changes, sent = len(live.events(live.run_id, "hparams")), commands(live)

    async def refused(s):
        return await s.call_tool("set_hparams", set_lr)

    answer = agent(live, refused)
    assert answer.is_error and "lernkurve mcp allow-steering" in text(answer)
    assert commands(live) == sent
    assert "allowed" in live.cli("mcp", "allow-steering").stdout
    seen = len(live.records.all())

    async def steer(s):
        changed = await s.call_tool("set_hparams", set_lr)
        saved = await s.call_tool(
            "control_run", {"run_id": live.run_id, "action": "checkpoint", "reason": "a keeper"}
        )
        return changed, saved

    changed, saved = agent(live, steer)
    assert not changed.is_error and changed.structured_content["hparams"]["lr"] == 3e-4
    assert not saved.is_error, text(saved)
    wait_for(lambda: pytest.approx(3e-4) in lrs_after(live.records, seen))
    event = live.wait_event(live.run_id, "hparams", changes + 1)["payload"]
    assert event["changes"]["lr"][1] == pytest.approx(3e-4)
    assert event["by"] == "agent" and event["reason"] == WHY
    checkpoint = live.wait_event(live.run_id, "checkpoint")["payload"]
    assert checkpoint["by"] == "agent" and checkpoint["reason"] == "a keeper"
    assert "not allowed" in live.cli("mcp", "deny-steering").stdout
    assert "lernkurve mcp allow-steering" in text(agent(live, refused))
    assert commands(live) == sent + 2


def test_a_reason_is_limited_and_an_unknown_client_refused(tmp_path):
    from lernkurve.cli_commands.client import Api
    from lernkurve.cli_commands.errors import CliError
    from lernkurve.store.agentaccess import save_access

    api = Api(str(tmp_path / "lernkurve.db"), client="agent")
    try:
        save_access(api.db, steer=True)
        with pytest.raises(CliError, match="at most 500 characters"):
            api.call("PATCH", "/runs/1/hparams", {"lr": 1e-3}, why="x" * 501)
        with pytest.raises(CliError, match="no run with id 1"):
            api.call("PATCH", "/runs/1/hparams", {"lr": 1e-3}, why="x" * 500)
        api.headers["X-Lernkurve-By"] = "robot"
        with pytest.raises(CliError, match="one of cli, agent"):
            api.call("PATCH", "/runs/1/hparams", {"lr": 1e-3}, why="fine")
    finally:
        api.close()
