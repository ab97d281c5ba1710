"""A user's own script, in its own process, steered only through a separately running server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from support import ROOT, TOKEN, Api, wait_for

SCRIPT = ROOT / "tests" / "scripts" / "steered.py"


class Server(Api):
    """`python webserver.py` as a separate process, spoken to over HTTP like the app does."""

    def __init__(self, db_path, env) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-u",
                str(ROOT / "webserver.py"),
                "--port",
                "0",
                "--db",
                str(db_path),
                "--token",
                TOKEN,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        line = self.proc.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=", line)
        assert found, f"no URL in: {line!r}"
        super().__init__(found.group(1))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(30) == 0
        self.proc.stdout.close()


@pytest.fixture
def env(db_path, data_dir):
    return {**os.environ, "LERNKURVE_DB": str(db_path), "LERNKURVE_DATA_DIR": str(data_dir)}


@pytest.fixture
def server(db_path, env):
    server = Server(db_path, env)
    yield server
    server.stop()


@pytest.fixture
def start_script(env):
    procs = []

    def start(*args: str) -> tuple[subprocess.Popen, int]:
        proc = subprocess.Popen(
            [sys.executable, "-u", str(SCRIPT), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        line = proc.stdout.readline()
        if line == "init\n":  # printed right before client.init (bench_liveness.py times from it)
            line = proc.stdout.readline()
        assert line.startswith("run "), line + proc.stdout.read()
        return proc, int(line.split()[1])

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


def test_script_appears_in_the_app_and_its_lr_follows_the_app(server, start_script):
    proc, run_id = start_script("100000", "0.005")
    listed = lambda: [r for r in server.runs() if r["id"] == run_id]  # noqa: E731
    # How soon it appears after client.init: benchmarks/bench_liveness.py; here only that it does.
    wait_for(lambda: (found := listed()) and found[0]["status"] == "running", timeout=30)
    wait_for(lambda: server.run(run_id)["step"] > 5)
    assert server.patch(f"/api/runs/{run_id}/hparams", json={"lr": 0.003}).status_code == 200
    event = wait_for(lambda: server.events(run_id, "hparams"))[0]
    wait_for(lambda: server.run(run_id)["step"] > event["step"] + 3)
    for step, lr, _ in server.points(run_id, "lr"):
        assert lr == (0.003 if step >= event["step"] else 0.1), step
    server.patch(f"/api/runs/{run_id}/hparams", json={"batch_size": 7})
    wait_for(lambda: server.points(run_id, "batch")[-1][1] == 7)
    server.control(run_id, "stop")
    assert proc.wait(30) == 0
    assert server.run(run_id)["status"] == "stopped"


def test_script_pauses_steps_resumes_and_stops(server, start_script):
    proc, run_id = start_script("100000", "0.005")
    wait_for(lambda: server.run(run_id)["step"] > 3)
    server.control(run_id, "pause")
    held = server.wait_status(run_id, "paused")["step"]
    time.sleep(0.4)
    assert server.run(run_id)["step"] == held
    server.control(run_id, "step")
    wait_for(lambda: server.run(run_id)["step"] == held + 1)
    time.sleep(0.4)
    assert server.run(run_id)["step"] == held + 1
    server.control(run_id, "resume")
    wait_for(lambda: server.run(run_id)["step"] > held + 5)
    server.control(run_id, "stop")
    assert proc.wait(30) == 0
    assert server.wait_status(run_id, "stopped")
    assert [e["step"] for e in server.events(run_id, "step")] == [held]


def test_checkpoint_then_resume_continues_with_the_checkpointed_state(
    server, start_script, tmp_path
):
    proc, run_id = start_script("100000", "0.005")
    wait_for(lambda: server.run(run_id)["step"] > 10)
    server.control(run_id, "checkpoint")
    ckpt = wait_for(lambda: server.checkpoints(run_id))
    server.control(run_id, "stop")
    assert proc.wait(30) == 0

    dump = tmp_path / "after-watch.pt"
    proc, same_id = start_script("100000", "0.005", "--resume", str(run_id), "--dump", str(dump))
    assert same_id == run_id
    wait_for(lambda: server.run(run_id)["status"] == "running")
    saved = torch.load(ckpt[0]["path"], weights_only=True)
    loaded = wait_for(lambda: dump.exists() and torch.load(dump, weights_only=True))
    assert loaded["step"] == saved["step"] == ckpt[0]["step"]
    for name, tensor in saved["model"].items():
        assert torch.equal(loaded["model"][name], tensor), name
    momentum = {k: v["momentum_buffer"] for k, v in saved["optimizer"]["state"].items()}
    for key, buffer in momentum.items():
        assert torch.equal(loaded["optimizer"]["state"][key]["momentum_buffer"], buffer)
    wait_for(lambda: server.run(run_id)["step"] > saved["step"] + 3)
    server.control(run_id, "stop")
    assert proc.wait(30) == 0
    resumed = server.events(run_id, "resume")
    assert resumed[-1]["step"] == saved["step"]
    steps = [s for s, _, _ in server.points(run_id, "loss") if s >= saved["step"]]
    assert steps[0] == saved["step"]


def test_killed_script_becomes_interrupted_and_keeps_its_flushed_points(server, start_script):
    proc, run_id = start_script("100000", "0.005")
    wait_for(lambda: server.run(run_id)["step"] > 20)
    time.sleep(0.3)
    proc.kill()  # SIGKILL: no chance to say goodbye
    proc.wait()
    # ~3.5 s after the kill (heartbeat timeout + a sweep): benchmarks/bench_liveness.py's figure
    run = server.wait_status(run_id, "interrupted", timeout=30)
    points = server.points(run_id, "loss")
    assert len(points) >= 20 and [p[0] for p in points] == list(range(len(points)))
    assert run["ended_at"] is not None


def test_fork_from_a_checkpoint_makes_a_child_with_parent_and_changed_hparams(server):
    parent = server.start("spiral", epochs=1000, delay_ms=3)
    wait_for(lambda: server.run(parent["id"])["step"] > 5, timeout=30)
    server.control(parent["id"], "checkpoint")
    ckpt = wait_for(lambda: server.checkpoints(parent["id"]))
    fork = {"checkpoint_id": ckpt[0]["id"], "hparams": {"lr": 0.03}}
    response = server.post(f"/api/runs/{parent['id']}/fork", json=fork)
    assert response.status_code == 201
    child = response.get_json()
    running = server.wait_status(child["id"], "running")
    assert running["parent_id"] == parent["id"] and running["parent_step"] == ckpt[0]["step"]
    assert running["hparams"]["lr"] == 0.03
    first = wait_for(lambda: server.points(child["id"], "lr"))[0]
    assert first[:2] == [ckpt[0]["step"], 0.03]


def test_resume_refuses_a_run_that_is_still_running(server, start_script, env):
    proc, run_id = start_script("100000", "0.005")
    wait_for(lambda: server.run(run_id)["step"] > 2)
    second = subprocess.run(
        [sys.executable, str(SCRIPT), "10", "0", "--resume", str(run_id)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert "no checkpoint" in second.stderr or "only a stopped" in second.stderr


def test_training_cli_runs_a_builtin_task_visible_in_the_app(server, env):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "training.py"),
            "--task",
            "spiral",
            "--epochs",
            "2",
            "--lr",
            "0.05",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    run_id = int(re.search(r"run (\d+)", out.stdout).group(1))
    run = server.run(run_id)
    assert (run["status"], run["task"], run["hparams"]["lr"]) == ("completed", "spiral", 0.05)
    assert len(server.points(run_id, "train_loss")) == run["step"] == 2 * 38


def test_training_cli_help_lists_tasks_and_hparams():
    out = subprocess.run(
        [sys.executable, str(ROOT / "training.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    for word in ("spiral", "digits", "--lr", "--batch-size", "live", "fixed"):
        assert word in out.stdout


def test_training_cli_refuses_an_out_of_range_value(env):
    out = subprocess.run(
        [sys.executable, str(ROOT / "training.py"), "--task", "spiral", "--lr", "99"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "lr must be between" in out.stderr


def test_example_script_trains_to_completion(env, db_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "regression.py"), "--steps", "60"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "completed" in out.stdout


def test_a_script_that_forgets_finish_keeps_every_point_and_says_how_it_ended(env, tmp_path):
    from lernkurve.store.database import Database
    from lernkurve.store.models import Metric, RunRow

    code = (
        "import lernkurve\n"
        "run = lernkurve.init(config={{}})\n"
        "for step in run.steps(500): run.log(step, loss=1.0)\n"
        "{tail}\n"
    )
    for tail, status in (("", "completed"), ("raise RuntimeError('boom')", "failed")):
        script = tmp_path / "forgetful.py"
        script.write_text(code.format(root=str(ROOT), tail=tail))
        subprocess.run([sys.executable, str(script)], env=env, capture_output=True, timeout=60)
        db = Database(env["LERNKURVE_DB"])
        with db.Session() as session:
            run = session.query(RunRow).order_by(RunRow.id.desc()).first()
            count = session.query(Metric).filter_by(run_id=run.id).count()
        assert (run.status, count) == (status, 500)
        db.dispose()


def test_a_stop_sent_to_a_hung_script_does_not_stop_its_resumed_run(server, start_script):
    proc, run_id = start_script("100000", "0.005")
    wait_for(lambda: server.run(run_id)["step"] > 5)
    server.control(run_id, "checkpoint")
    ckpt = wait_for(lambda: server.checkpoints(run_id))
    proc.send_signal(signal.SIGSTOP)  # hung: the stop below is never read
    assert server.control(run_id, "stop").status_code == 202
    proc.kill()
    proc.wait()
    server.wait_status(run_id, "interrupted")
    proc, _ = start_script("100000", "0.005", "--resume", str(run_id))
    wait_for(lambda: server.run(run_id)["step"] > ckpt[0]["step"] + 5)
    assert server.run(run_id)["status"] == "running"
    server.control(run_id, "stop")
    assert proc.wait(30) == 0
