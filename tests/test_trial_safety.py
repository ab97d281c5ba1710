"""Trials that can never corrupt the run they serve: a checkpoint saved meanwhile holds the run,
not a variant; events stay at the run's step; commands wait or say why not; a run that can't
host a trial refuses it; no child run is left waiting; recipes replay what runs did."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import closing

import pytest
import torch
from scripting import Scripts

from lernkurve.shared.hparams import resolve
from lernkurve.shared.taskspecs import task_schema, total_steps_for
from lernkurve.store.models import RunRow
from lernkurve.tracking import client
from lernkurve.web.streamer import mark_interrupted
from support import ROOT, open_sqlite, wait_for

TRIAL = ROOT / "tests" / "scripts" / "trial.py"
PLAIN = ROOT / "tests" / "scripts" / "plain_loop.py"


@pytest.fixture
def script(db_path, data_dir, tmp_path):
    with Scripts(TRIAL, db_path, data_dir, tmp_path) as start:
        yield start


@pytest.fixture
def plain(db_path, data_dir, tmp_path):
    with Scripts(PLAIN, db_path, data_dir, tmp_path) as start:
        yield start


def race(api, run_id: int, steps: int = 60) -> dict:
    api.wait_logged(run_id, "loss")
    body = {"variants": [{"lr": 0.001}, {"lr": 0.2}], "steps": steps, "metric": "loss"}
    response = api.post(f"/api/runs/{run_id}/race", json=body)
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def trial_started(api, child_id: int) -> int:
    """The step the trial started at, once it has (its child run runs from there)."""
    child = wait_for(lambda: (r := api.run(child_id))["status"] != "queued" and r, 30)
    return child["parent_step"]


@pytest.mark.sqlite_only  # kills the script and reads the file afterwards
def test_a_checkpoint_saved_mid_race_resumes_to_the_run_as_it_was(api, script, db_path):
    proc, run_id, records = script("100000", "0.005", "--save-every", "10")
    records.wait_past(25)
    children = race(api, run_id, steps=80)["run_ids"]
    start = trial_started(api, children[0])
    records.wait_past(start + 50, after=1)  # the second variant runs: saves were asked meanwhile
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {r["step"]: r for r in records.all() if r["step"] < start}
    with closing(open_sqlite(db_path)) as conn:
        saved = [
            s for (s,) in conn.execute("SELECT step FROM checkpoints WHERE run_id = ?", (run_id,))
        ]
    assert start in saved and max(saved) == start  # nothing past the run's own step

    proc, same, again = script("100000", "0.005", "--resume", str(run_id), record="again")
    first = again.wait_past(start + 2)[0]
    assert api.control(run_id, "stop").status_code == 202
    proc.communicate(timeout=30)
    assert same == run_id and first["step"] == start
    # the weights the run had when the race began, not a variant's
    assert (
        first["params"] == records.all()[[r["step"] for r in records.all()].index(start)]["params"]
    )
    assert before  # the run trained before the race


def test_events_during_a_trial_stay_at_the_runs_step(api, script):
    proc, run_id, records = script("100000", "0.005")
    records.wait_past(15)
    children = race(api, run_id, steps=200)["run_ids"]
    start = trial_started(api, children[0])
    assert api.control(run_id, "pause").status_code == 202
    wait_for(lambda: api.events(run_id, "pause"), 20)
    assert api.control(run_id, "resume").status_code == 202
    deferred = api.control(run_id, "checkpoint")
    assert deferred.status_code == 202 and "deferred" in deferred.get_json()
    patched = api.patch(f"/api/runs/{run_id}/hparams", json={"lr": 0.02})
    assert patched.status_code == 202 and "deferred" in patched.get_json()
    assert api.control(run_id, "stop").status_code == 202
    proc.communicate(timeout=30)

    events = api.events(run_id)
    for kind in ("pause", "resume", "stop"):
        assert [e["step"] for e in events if e["kind"] == kind] == [start], kind
    run = api.run(run_id)
    assert run["step"] <= start + 1  # the trial's steps never became the run's
    notes = [e["payload"]["message"] for e in events if e["kind"] == "note"]
    assert any("checkpoint was not carried out" in n for n in notes)
    assert any("hparams was not carried out" in n for n in notes)
    assert api.get(f"/api/runs/{run_id}/checkpoints").get_json()["checkpoints"] == []
    assert api.run(children[0])["parent_step"] == start  # the trial's real start


def test_a_checkpoint_asked_during_a_race_is_saved_after_it(api, script):
    proc, run_id, records = script("100000", "0.003")
    records.wait_past(15)
    children = race(api, run_id, steps=30)["run_ids"]
    start = trial_started(api, children[0])
    assert api.control(run_id, "checkpoint").status_code == 202
    saved = wait_for(lambda: api.get(f"/api/runs/{run_id}/checkpoints").get_json()["checkpoints"])
    assert api.control(run_id, "stop").status_code == 202
    proc.communicate(timeout=30)
    race_event = api.events(run_id, "race")[0]
    assert saved[0]["step"] >= race_event["payload"]["end_step"] > start


CHILDREN_AND_HOST = """
SELECT c.parent_step, h.step,
       (SELECT count(DISTINCT m.step) FROM metrics m
        WHERE m.run_id = h.id AND m.key = 'loss' AND m.step < c.parent_step)
FROM runs c JOIN runs h ON h.id = c.parent_id
WHERE c.parent_id = ? AND c.parent_step IS NOT NULL
"""


def watch_trial_starts(db_path, run_id: int, done: threading.Event) -> list:
    """Read the file every millisecond, as a kill -9 at that moment would leave it: each
    trial child's start (the app's guess until the script starts it), the host run's stored
    step, and how many of the host's steps before that start are stored."""
    seen = []
    with closing(open_sqlite(db_path, isolation_level=None)) as conn:
        while not done.is_set():
            conn.execute("BEGIN")  # one snapshot for both rows and the points
            seen += conn.execute(CHILDREN_AND_HOST, (run_id,)).fetchall()
            conn.execute("COMMIT")
            time.sleep(0.001)
    return seen


def watched_run(db_path) -> tuple:
    """A script's run in this process, its model and optimizer watched (it can host trials)."""
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    run = client.init(config={"lr": 0.01}, live=["lr"], db=str(db_path), system_metrics=False)
    run.watch(model, optimizer)
    return run, model, optimizer


@pytest.mark.sqlite_only  # reads the file while the run writes it
def test_a_trial_never_starts_in_the_database_past_the_runs_own_steps(api, db_path):
    """Killed at any moment, no trial child starts past its run's stored row and points."""
    run, model, optimizer = watched_run(db_path)
    done, seen = threading.Event(), []
    watcher = threading.Thread(
        target=lambda: seen.extend(watch_trial_starts(db_path, run.id, done)), daemon=True
    )
    watcher.start()
    x = torch.randn(32, 4)
    with run:
        for calls, step in enumerate(run.steps(240)):
            loss = model(x).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            run.log(step, loss=loss.item())
            if calls in (20, 90, 160):  # three lr tests, each over before the next is asked
                api.wait_logged(run.id, "loss")  # (a busy machine's writer may lag behind)
                body = {"min_lr": 1e-4, "max_lr": 0.1, "steps": 20}
                assert api.post(f"/api/runs/{run.id}/lr_test", json=body).status_code == 202
            time.sleep(0.002)  # ~20 steps a writer's flush: a trial starts between two
    done.set()
    watcher.join(10)
    children = [e["payload"]["run_id"] for e in api.events(run.id, "lr_test")]
    starts = {api.run(child)["parent_step"] for child in children}
    assert len(starts) == 3 and starts <= {start for start, _, _ in seen}  # each start seen
    assert [row for row in seen if not (row[0] <= row[1] and row[2] == row[0])] == []


def test_a_stop_during_a_trial_never_locks_out_the_writer(api, db_path):
    """The stop ends the trial's child run (a flush, under the writer's lock) while the writer,
    holding that lock, hands over a new command: neither may wait for the other."""
    run, model, optimizer = watched_run(db_path)

    def train():
        x = torch.randn(8, 4)
        with run:
            for step in run.steps(100_000):
                model(x).pow(2).mean().backward()
                optimizer.step()
                run.log(step, loss=1.0)
                time.sleep(0.002)

    loop = threading.Thread(target=train, daemon=True)
    loop.start()
    api.wait_logged(run.id, "loss")
    body = {"min_lr": 1e-4, "max_lr": 0.1, "steps": 10_000}
    assert api.post(f"/api/runs/{run.id}/lr_test", json=body).status_code == 202
    wait_for(lambda: run.trial is not None)
    handed_over = threading.Event()
    with run._writer._lock:  # the writer thread mid-flush
        run.commands.post((None, "stop", {}))
        wait_for(lambda: run.trial is None)  # the loop took the stop and ends the child ...
        time.sleep(0.2)  # ... whose flush now waits for this lock
        writer = threading.Thread(
            target=lambda: (run.commands.post((None, "pause", {})), handed_over.set())
        )
        writer.start()
        writer.join(3)
        assert handed_over.is_set(), "the loop held its inbox while waiting for the writer"
    loop.join(30)
    assert not loop.is_alive() and run.status == "stopped"


@pytest.mark.parametrize("args", [(), ("--no-watch",)], ids=["plain-loop", "no-optimizer"])
def test_a_script_that_cannot_host_a_trial_refuses_it_with_what_it_needs(api, plain, args):
    proc, run_id, records = plain("100000", "0.005", *args)
    records.wait_past(10)
    api.wait_logged(run_id, "loss")
    body = {"min_lr": 1e-4, "max_lr": 1.0, "steps": 20}
    response = api.post(f"/api/runs/{run_id}/lr_test", json=body)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "cannot_host_trial"
    needed = "run.watch(model, optimizer)" if args else "run.steps(n)"
    assert needed in error["message"]
    children = api.get("/api/runs").get_json()["runs"]
    assert [r["id"] for r in children] == [run_id]  # no child run was made
    proc.kill()


@pytest.mark.sqlite_only
def test_a_dead_parent_leaves_no_child_waiting_and_deleting_it_takes_its_trials(
    api, script, db_path
):
    proc, run_id, records = script("100000", "0.005")
    records.wait_past(15)
    children = race(api, run_id, steps=300)["run_ids"]
    trial_started(api, children[0])
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    from lernkurve.store.database import Database

    db = Database(db_path)
    wait_for(
        lambda: mark_interrupted(db, timeout=0.0) or api.run(run_id)["status"] == "interrupted"
    )
    statuses = {api.run(child)["status"] for child in children}
    assert statuses == {"interrupted"}  # the running variant and the one never started
    response = api.delete(f"/api/runs/{run_id}?force=1")
    assert response.status_code == 204
    with db.Session() as session:
        assert session.query(RunRow).count() == 0
    db.dispose()


def test_a_recipe_of_900_changes_is_taken_and_one_past_the_end_refused(api):
    hparams = {"epochs": 40}
    total = total_steps_for("spiral", {**resolve(task_schema("spiral"), hparams)})
    assert total > 900
    steps = [
        {"step": i, "command": {"kind": "hparams", "payload": {"lr": 0.01 + i * 1e-5}}}
        for i in range(900)
    ]
    body = {"task": "spiral", "hparams": hparams, "recipe": {"steps": steps}}
    assert len(str(body)) > 64 * 1024  # over the cap of every other body
    response = api.post("/api/runs", json=body)
    assert response.status_code == 201, response.get_json()
    late = {"step": total, "command": {"kind": "hparams", "payload": {"lr": 0.02}}}
    response = api.post("/api/runs", json={**body, "recipe": {"steps": [late]}})
    assert response.status_code == 400
    assert "past the run's end" in response.get_json()["error"]["message"]


def test_an_lr_test_range_outside_the_schema_is_refused(api):
    run_id = api.start("spiral", epochs=100, delay_ms=20)["id"]  # live while it is asked
    body = {"min_lr": 1e-4, "max_lr": 20.0, "steps": 10}  # spiral's lr is at most 10
    response = api.post(f"/api/runs/{run_id}/lr_test", json=body)
    assert response.status_code == 400
    assert "lr range" in response.get_json()["error"]["message"]
    assert api.control(run_id, "stop").status_code == 202


def hparams_changes(api, run_id: int) -> list[tuple[int, float]]:
    return [(e["step"], e["payload"]["changes"]["lr"][1]) for e in api.events(run_id, "hparams")]


def test_a_runs_own_recipe_with_autopilot_and_race_changes_replays(api):
    """What the autopilot and a race did is replayable: the recipe is taken and lands again."""
    hparams = {"epochs": 40, "lr": 0.1}
    run_id = api.start("spiral", delay_ms=5, **hparams)["id"]
    api.wait_logged(run_id, "train_loss")
    plateau = {"metric": "train_loss", "patience": 10, "min_delta": 10, "max_times": 3}
    body = {
        "enabled": True,
        "plateau": {**plateau, "factor": 0.01},
        "divergence": {"enabled": False},
    }
    assert api.patch(f"/api/runs/{run_id}/autopilot", json=body).status_code == 200
    # 0.1 → 0.001 → 1e-5 → 1e-6: the third cut stops at spiral's minimum, a value replayable
    wait_for(lambda: len(api.events(run_id, "hparams")) == 3, 60)
    api.patch(f"/api/runs/{run_id}/autopilot", json={"enabled": False})
    body = {"variants": [{"lr": 0.001}, {"lr": 0.2}], "steps": 20, "metric": "train_loss"}
    assert api.post(f"/api/runs/{run_id}/race", json=body).status_code == 202
    (raced,) = wait_for(lambda: api.events(run_id, "race"), 60)
    assert raced["payload"]["winner"] is not None
    assert api.control(run_id, "stop").status_code == 202
    api.wait_status(run_id, "stopped")
    done = api.events(run_id, "hparams")
    assert [e["payload"].get("by") for e in done] == ["autopilot"] * 3 + ["race"]
    assert done[2]["payload"]["changes"]["lr"][1] == pytest.approx(1e-6)

    recipe = api.get(f"/api/runs/{run_id}/recipe").get_json()
    replay = api.post("/api/runs", json={"task": "spiral", "hparams": hparams, "recipe": recipe})
    assert replay.status_code == 201, replay.get_json()
    replay_id = replay.get_json()["id"]
    api.wait_status(replay_id, "completed", timeout=120)
    replayed, original = hparams_changes(api, replay_id), hparams_changes(api, run_id)
    assert [step for step, _ in replayed] == [step for step, _ in original]
    assert [lr for _, lr in replayed] == pytest.approx([lr for _, lr in original])
    assert {e["payload"]["by"] for e in api.events(replay_id, "hparams")} == {"recipe"}
