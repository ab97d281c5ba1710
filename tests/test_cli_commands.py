"""`lernkurve runs|show|metrics|set|...` as a person or a script runs them: subprocesses on a
real SQLite database beside a live script (tests/scripts/trial.py, which records the lr the
optimizer used at each step), no server anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from scripting import lrs_after

from support import wait_for


@pytest.fixture(scope="module")
def live(live_cli):
    return live_cli


def failed_in_one_line(done: subprocess.CompletedProcess, *words: str) -> str:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def test_set_reaches_the_optimizer_marked_by_the_cli(live):
    seen = len(live.records.all())
    answer = live.json("set", str(live.run_id), "lr=3e-4")
    assert answer["hparams"]["lr"] == pytest.approx(3e-4)
    wait_for(lambda: pytest.approx(3e-4) in lrs_after(live.records, seen))
    events = live.json("events", str(live.run_id))["events"]
    changed = [e for e in events if e["kind"] == "hparams" and e["payload"]["changes"].get("lr")]
    assert changed[-1]["payload"]["changes"]["lr"][1] == pytest.approx(3e-4)
    assert changed[-1]["payload"]["by"] == "cli"


def test_a_factor_and_an_override_then_release(live):
    before = live.json("show", str(live.run_id))["run"]["hparams"]["lr"]
    seen = len(live.records.all())
    live.cli("set", str(live.run_id), "lr=x0.5")
    wait_for(lambda: pytest.approx(before * 0.5) in lrs_after(live.records, seen))
    count = len(live.events(live.run_id, "hparams"))
    live.cli("set", str(live.run_id), "lr=2e-3", "--mode", "override")
    pinned = live.wait_event(live.run_id, "hparams", count + 1)
    assert pinned["payload"]["by"] == "cli" and pinned["payload"]["changes"]["lr"][1] == 2e-3
    live.cli("release", str(live.run_id), "lr")
    released = live.wait_event(live.run_id, "hparams", count + 2)
    assert released["payload"]["by"] == "cli"
    assert released["payload"]["changes"]["lr"][0] == pytest.approx(2e-3)


def test_pause_step_resume_hold_the_loop(live):
    run = str(live.run_id)
    live.cli("pause", run)
    assert live.wait_event(live.run_id, "pause")["payload"] == {"by": "cli"}
    held = live.records.wait_still(quiet=0.5)
    live.cli("step", run)
    assert live.wait_event(live.run_id, "step")["payload"] == {"by": "cli"}
    wait_for(lambda: len(live.records.all()) == len(held) + 1)
    live.cli("resume", run)
    assert live.wait_event(live.run_id, "resume")["payload"] == {"by": "cli"}
    live.records.wait_past(held[-1]["step"] + 5)
    live.cli("checkpoint", run)
    saved = live.wait_event(live.run_id, "checkpoint")["payload"]
    assert saved["by"] == "cli" and os.path.isfile(saved["path"])


def test_lr_test_and_race_run_in_the_script(live):
    run = str(live.run_id)
    seen = len(live.records.all())
    answer = live.json("lr-test", run, "--min", "1e-4", "--max", "1e-1", "--steps", "10")
    assert answer["metric"] == "loss" and answer["run_id"] > live.run_id
    result = live.wait_event(live.run_id, "lr_test")["payload"]
    assert result["by"] == "cli" and result["min_lr"] == 1e-4 and result["max_lr"] == 1e-1
    tried = [r["lr"] for r in live.records.all()[seen:] if r["trial"]]
    assert tried[0] == pytest.approx(1e-4) and len(tried) >= 2
    assert all(1e-4 * 0.999 <= lr <= 1e-1 * 1.001 for lr in tried)
    live.cli("race", run, "lr=1e-3,2e-3", "--steps", "5")
    raced = live.wait_event(live.run_id, "race")["payload"]
    assert raced["by"] == "cli"
    winner = raced["results"][raced["winner"]]["hparams"]["lr"]
    seen = len(live.records.all())
    wait_for(lambda: pytest.approx(winner) in lrs_after(live.records, seen))


def test_autopilot_on_and_off(live):
    run = str(live.run_id)
    assert live.json("autopilot", run, "on")["autopilot"]["enabled"] is True
    switched = live.wait_event(live.run_id, "autopilot")["payload"]
    assert switched["by"] == "cli" and switched["enabled"] is True
    assert "by" not in switched["settings"]
    live.cli("autopilot", run, "off")
    assert live.wait_event(live.run_id, "autopilot", 2)["payload"]["enabled"] is False
    refused = live.cli("autopilot", run, "undo", ok=False)
    failed_in_one_line(refused, "nothing since its last undo")


def test_reads_as_json(live):
    run = str(live.run_id)
    listed = live.json("runs", "--status", "running")["runs"]
    assert [r["id"] for r in listed] == [live.run_id]
    shown = live.json("show", run)
    assert shown["run"]["status"] == "running"
    assert shown["metrics"]["loss"]["last_step"] > 5 and shown["metrics"]["loss"]["mode"] == "min"
    points = live.json("metrics", run, "loss", "--since", "3")["points"]
    assert points[0]["step"] == 3 and {p["key"] for p in points} == {"loss"}
    best = live.json("runs", "--sort", "best:loss")["runs"]
    scores = [r["summary"]["best"] for r in best if r.get("summary")]
    assert scores == sorted(scores) and live.run_id in [r["id"] for r in best]
    human = live.cli("show", run).stdout
    assert f"run {live.run_id}" in human and "loss" in human


def test_tag_note_export_and_read_only_query(live):
    run = str(live.run_id)
    assert live.json("tag", run, "baseline", "cli")["tags"] == ["baseline", "cli"]
    assert live.json("tag", run, "cli", "--remove")["tags"] == ["baseline"]
    live.json("tag", run, "project:mnist")
    assert [r["id"] for r in live.json("runs", "--project", "mnist")["runs"]] == [live.run_id]
    assert live.json("runs", "--project", "cifar")["runs"] == []
    assert live.json("tag", run, "project:mnist", "--remove")["tags"] == ["baseline"]
    assert live.json("note", run, "from the terminal")["notes"] == "from the terminal"
    out = live.folder / "points.csv"
    live.cli("export", run, "--csv", str(out))
    lines = out.read_text().splitlines()
    assert lines[0] == "step,key,value,wall_time" and len(lines) > 5
    pq = pytest.importorskip("pyarrow.parquet")  # the [parquet] extra
    parquet = live.folder / "points.parquet"
    written = live.json("export", run, "--parquet", str(parquet))["points"]
    table = pq.read_table(parquet)
    assert table.column_names == ["step", "key", "value", "wall_time"]
    assert table.num_rows == written >= len(lines) - 1  # the run went on meanwhile
    assert str(table.schema.field("step").type) == "int64"
    stored = {(r["step"], r["key"]) for r in table.select(["step", "key"]).to_pylist()}
    assert {(int(x.split(",")[0]), x.split(",")[1]) for x in lines[1:]} <= stored
    rows = live.json("query", f"SELECT id, tags FROM runs WHERE id = {run}")["rows"]
    assert rows == [{"id": live.run_id, "tags": '["baseline"]'}]
    refused = live.cli("query", f"UPDATE runs SET name = 'x' WHERE id = {run}", ok=False)
    failed_in_one_line(refused, "read-only")
    assert live.json("show", run)["run"]["name"] == "trial"


def test_errors_are_one_line(live):
    failed_in_one_line(live.cli("set", "99999", "lr=1e-3", ok=False), "no run with id 99999")
    bad = live.cli("set", str(live.run_id), "lr=50", ok=False)
    failed_in_one_line(bad, "lr must be between")
    failed_in_one_line(live.cli("pause", "abc", ok=False), "run id")
    alive = live.cli("rm", str(live.run_id), ok=False)
    failed_in_one_line(alive, "still running")
    missing = live.folder / "typo" / "lernkurve.db"
    failed_in_one_line(live.cli("runs", "--db", str(missing), ok=False), "no database at")
    assert not missing.parent.exists()  # a mistyped path makes no new, empty database
    failed_in_one_line(live.cli("query", "SELECT 1", "--limit", "0", ok=False), "from 1")


def test_a_failed_export_keeps_the_file_it_would_have_replaced(live):
    kept = live.folder / "kept.csv"
    kept.write_text("step,key,value,wall_time\n1,loss,0.5,1.0\n")
    failed_in_one_line(live.cli("export", "99999", "--csv", str(kept), ok=False), "99999")
    assert kept.read_text() == "step,key,value,wall_time\n1,loss,0.5,1.0\n"
    assert [p.name for p in live.folder.glob("kept.csv*")] == ["kept.csv"]


def test_follow_until_stopped_then_the_run_is_dead(live):
    run_id, records = live.start(100_000, 0.01, "short")
    records.wait_past(3)
    follow = subprocess.Popen(
        [sys.executable, "-m", "lernkurve.cli", "metrics", str(run_id), "loss", "-f", "--json"],
        env=live.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    live.cli("stop", str(run_id))
    assert live.wait_event(run_id, "stop")["payload"] == {"by": "cli"}
    out, err = follow.communicate(timeout=60)
    assert follow.returncode == 0, err
    steps = [json.loads(line)["step"] for line in out.splitlines()]
    assert steps == list(range(len(steps))) and steps[-1] >= records.all()[-1]["step"] - 1
    failed_in_one_line(live.cli("set", str(run_id), "lr=1e-3", ok=False), "has ended")
    live.cli("rm", str(run_id))
    assert run_id not in [r["id"] for r in live.json("runs")["runs"]]


def test_completion_scripts(live):
    bash = live.cli("completion", "bash").stdout
    assert "complete -o default -F _lernkurve lernkurve" in bash and "lr-test" in bash
    assert subprocess.run(["bash", "-n"], input=bash, text=True).returncode == 0
    assert "bashcompinit" in live.cli("completion", "zsh").stdout


def test_the_command_stays_light():
    code = (
        "import sys, lernkurve.cli; "
        "assert not {'torch', 'flask', 'sqlalchemy'} & set(sys.modules), sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
