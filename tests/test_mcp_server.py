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


@pytest.fixture
def steering(live):
    """Steering allowed for one test, off again after it (as the module's run starts)."""
    live.cli("mcp", "allow-steering")
    yield
    live.cli("mcp", "deny-steering")


@pytest.fixture
def reading_off(live):
    """Reading denied for one test, on again after it: steers need no reading."""
    live.cli("mcp", "deny-reading")
    yield
    live.cli("mcp", "allow-reading")


def steer(live: LiveCli, tool: str, arguments: dict):
    """One call of a steering ``tool`` on the live run, with WHY as its reason."""

    async def call(s):
        return await s.call_tool(tool, {"run_id": live.run_id, "reason": WHY, **arguments})

    return agent(live, call)


def children(live: LiveCli, task: str) -> dict[int, str]:
    """The live run's child runs of ``task`` (an lr test's, a race's): id -> status."""
    with open_sqlite(live.db) as conn:
        query = "SELECT id, status FROM runs WHERE parent_id = ? AND task = ? ORDER BY id"
        return dict(conn.execute(query, (live.run_id, task)).fetchall())


def by_the_agent(payload: dict) -> bool:
    """Whether an event says the agent asked for it, with its reason."""
    return payload["by"] == "agent" and payload["reason"] == WHY


def test_the_trial_tools_are_refused_while_steering_is_off(live):
    sent = commands(live)
    asks = {
        "release_lr": {},
        "lr_test": {"min_lr": 1e-4, "max_lr": 1e-1, "steps": 10},
        "race": {"variants": [{"lr": 1e-3}, {"lr": 2e-3}], "steps": 5},
        "autopilot": {"switch": "on"},
    }

    async def calls(s):
        base = {"run_id": live.run_id, "reason": WHY}
        return {tool: await s.call_tool(tool, {**base, **ask}) for tool, ask in asks.items()}

    for tool, answer in agent(live, calls).items():
        assert answer.is_error, tool
        assert "lernkurve mcp allow-steering" in text(answer), text(answer)
        assert "\n" not in text(answer).strip(), text(answer)
    assert commands(live) == sent
    assert not children(live, "lr_test") and not children(live, "race")


def test_release_lr_hands_a_pinned_lr_back_to_its_schedule(live, steering):
    scheduled = live.json("show", str(live.run_id))["run"]["hparams"]["lr"]
    count = len(live.events(live.run_id, "hparams"))
    pinned = steer(live, "set_hparams", {"values": {"lr": 2e-3}, "mode": "override"})
    assert not pinned.is_error, text(pinned)
    live.wait_event(live.run_id, "hparams", count + 1)
    seen = len(live.records.all())

    released = steer(live, "release_lr", {})
    assert not released.is_error, text(released)
    event = live.wait_event(live.run_id, "hparams", count + 2)["payload"]
    assert event["mode"] == "release" and by_the_agent(event)
    assert event["changes"]["lr"] == [pytest.approx(2e-3), pytest.approx(scheduled)]
    wait_for(lambda: pytest.approx(scheduled) in lrs_after(live.records, seen))
    assert live.json("show", str(live.run_id))["run"]["hparams"]["lr"] == pytest.approx(scheduled)


def test_lr_test_runs_in_the_script_as_the_agent_asked(live, steering, reading_off):
    seen, tests = len(live.records.all()), len(live.events(live.run_id, "lr_test"))
    answer = steer(live, "lr_test", {"min_lr": 1e-4, "steps": 10})
    assert not answer.is_error, text(answer)
    child = answer.structured_content["run_id"]
    assert answer.structured_content["metric"] == "loss"
    result = live.wait_event(live.run_id, "lr_test", tests + 1)["payload"]
    assert by_the_agent(result) and result["run_id"] == child
    assert result["min_lr"] == 1e-4 and result["max_lr"] == 1.0  # no max given: the default's
    assert result["planned_steps"] == 10 and "suggested_lr" in result
    assert child in children(live, "lr_test")
    tried = [r["lr"] for r in live.records.all()[seen:] if r["trial"]]
    assert tried[0] == pytest.approx(1e-4) and len(tried) >= 2


def test_race_runs_its_variants_and_goes_on_with_the_winner(live, steering):
    races = len(live.events(live.run_id, "race"))
    variants = [{"lr": 1e-3}, {"lr": 2e-3}]
    answer = steer(live, "race", {"variants": variants, "steps": 5, "mode": "max"})
    assert not answer.is_error, text(answer)
    run_ids = answer.structured_content["run_ids"]
    raced = live.wait_event(live.run_id, "race", races + 1)["payload"]
    assert by_the_agent(raced) and raced["mode"] == "max" and raced["steps"] == 5
    assert [r["run_id"] for r in raced["results"]] == run_ids
    assert [r["hparams"] for r in raced["results"]] == variants
    scores = [r["score"] for r in raced["results"]]
    assert raced["winner"] == scores.index(max(scores))  # "max": the highest score wins
    assert set(run_ids) <= set(children(live, "race"))
    seen = len(live.records.all())
    winner = variants[raced["winner"]]["lr"]
    wait_for(lambda: pytest.approx(winner) in lrs_after(live.records, seen))


def test_autopilot_on_off_and_an_undo_with_nothing_to_undo(live, steering):
    switches = len(live.events(live.run_id, "autopilot"))
    on = steer(live, "autopilot", {"switch": "on"})
    assert not on.is_error and on.structured_content["autopilot"]["enabled"] is True
    switched = live.wait_event(live.run_id, "autopilot", switches + 1)["payload"]
    assert by_the_agent(switched) and switched["enabled"] is True
    assert "by" not in switched["settings"] and "reason" not in switched["settings"]
    assert live.json("show", str(live.run_id))["run"]["config"]["autopilot"]["enabled"] is True

    off = steer(live, "autopilot", {"switch": "off"})
    assert not off.is_error, text(off)
    switched = live.wait_event(live.run_id, "autopilot", switches + 2)["payload"]
    assert by_the_agent(switched) and switched["enabled"] is False
    undo = steer(live, "autopilot", {"switch": "undo"})
    assert undo.is_error and "nothing since its last undo" in text(undo)
    assert "\n" not in text(undo).strip(), text(undo)
