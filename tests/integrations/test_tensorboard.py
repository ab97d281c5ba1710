"""TensorBoard: the drop-in SummaryWriter, and event files imported as runs (idempotently)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

pytest.importorskip("tensorboard")

import torch  # noqa: E402
from integration_support import Background, control, held, only_run, patch, series  # noqa: E402
from torch.utils.tensorboard import SummaryWriter as TorchWriter  # noqa: E402

from lernkurve.tensorboard import SummaryWriter, import_logdir  # noqa: E402
from support import ROOT, wait_for  # noqa: E402


def a_tensorboard_script(SummaryWriter, log_dir) -> None:  # noqa: N803 - the class under test
    """The loop of a script that logs to TensorBoard; only its import differs between tests."""
    writer = SummaryWriter(log_dir=str(log_dir))
    for step in range(50):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
        writer.add_scalars("acc", {"train": step / 50, "val": step / 60}, step)
    writer.add_hparams({"lr": 0.1, "optimizer": "sgd"}, {"hparam/best": 0.5}, global_step=49)
    writer.flush()
    return writer


def test_a_script_with_the_drop_in_writer_appears_streams_and_completes_on_close(
    api, db_path, tmp_path, monkeypatch
):
    monkeypatch.setenv("LERNKURVE_DB", str(db_path))
    writer = a_tensorboard_script(SummaryWriter, tmp_path / "runs" / "exp1")
    run = only_run(api)
    assert run["name"] == "exp1" and run["status"] == "running"
    wait_for(lambda: len(series(api, run["id"], "train/loss")) == 50)  # streams before close
    with pytest.warns(UserWarning, match="scalars only"):
        writer.add_image("picture", None, 0)
        writer.add_histogram("weights", None, 0)  # the same warning is not repeated
    writer.close()

    run = api.wait_status(run["id"], "completed")
    assert run["step"] == 49 and run["hparams"] == {"lr": 0.1, "optimizer": "sgd"}
    loss = series(api, run["id"], "train/loss")
    assert loss == pytest.approx({s: 1.0 / (s + 1) for s in range(50)})
    assert series(api, run["id"], "acc/val") == pytest.approx({s: s / 60 for s in range(50)})
    assert series(api, run["id"], "hparam/best") == {49: 0.5}


def test_the_drop_in_writer_obeys_pause_lr_and_stop_where_the_step_advances(
    api, db_path, tmp_path, monkeypatch
):
    monkeypatch.setenv("LERNKURVE_DB", str(db_path))
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    used = {}

    def loop():
        writer = SummaryWriter(log_dir=str(tmp_path / "steered"), config={"lr": 0.1}, live=["lr"])
        writer.run.watch(model, optimizer)
        step = 0
        while not writer.should_stop:
            optimizer.step()
            used[step] = optimizer.param_groups[0]["lr"]
            writer.add_scalar("loss", 1.0, step)
            step += 1
            time.sleep(0.002)
        writer.close()

    job = Background(loop)
    run_id = only_run(api)["id"]
    control(api, run_id, "pause")
    api.wait_status(run_id, "paused")
    before, after = held(lambda: len(used))
    assert before == after
    patch(api, run_id, {"lr": 0.02})
    control(api, run_id, "resume")
    wait_for(lambda: api.events(run_id, "resume"))
    control(api, run_id, "stop")
    job.join()
    assert api.run(run_id)["status"] == "stopped"
    [event] = api.events(run_id, "hparams")
    assert event["step"] == before  # the step after the last one logged while paused
    assert all(lr == (0.02 if s >= event["step"] else 0.1) for s, lr in used.items())


def test_event_files_from_torch_import_with_every_scalar_and_again_without_duplicates(
    api, db_path, tmp_path
):
    logdir = tmp_path / "logs"
    written = {}
    for name, scale in (("a", 1.0), ("b", 2.0)):
        writer = TorchWriter(log_dir=str(logdir / name))
        for step in range(0, 300, 3):
            writer.add_scalar("loss", scale / (step + 1), step)
            writer.add_scalar("lr", scale * 1e-3, step, new_style=True)
        writer.close()
        written[name] = {s: scale / (s + 1) for s in range(0, 300, 3)}

    first = import_logdir(logdir, db_path)
    assert [(r["name"], r["added"], r["new"]) for r in first] == [
        ("logs/a", 200, True),
        ("logs/b", 200, True),
    ]
    runs = {r["name"]: r for r in api.get("/api/runs").get_json()["runs"]}
    assert set(runs) == {"logs/a", "logs/b"}
    for name in ("a", "b"):
        run = runs[f"logs/{name}"]
        assert run["status"] == "completed" and run["step"] == 297
        loss = series(api, run["id"], "loss")
        assert loss == pytest.approx(written[name], rel=1e-6)  # TensorBoard keeps float32
        assert len(series(api, run["id"], "lr")) == 100

    again = import_logdir(logdir, db_path)
    assert [r["added"] for r in again] == [0, 0] and not any(r["new"] for r in again)
    assert len(api.get("/api/runs").get_json()["runs"]) == 2

    writer = TorchWriter(log_dir=str(logdir / "a"))  # the run went on: a new event file
    writer.add_scalar("loss", 0.001, 300)
    writer.close()
    more = import_logdir(logdir, db_path)
    assert [r["added"] for r in more] == [1, 0]
    assert series(api, runs["logs/a"]["id"], "loss")[300] == pytest.approx(0.001)


def test_the_command_line_imports_a_logdir_and_names_what_it_did(db_path, tmp_path):
    writer = TorchWriter(log_dir=str(tmp_path / "logs"))
    writer.add_scalar("loss", 1.5, 0)
    writer.close()
    command = [sys.executable, "-m", "lernkurve.tensorboard", "import", str(tmp_path / "logs")]
    command += ["--db", str(db_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "run 1 logs: imported, 1 points added"
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "run 1 logs: updated, 0 points added"
    missing = subprocess.run(
        [*command[:4], str(tmp_path / "nowhere"), "--db", str(db_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1 and "no such folder" in missing.stderr
    cli = subprocess.run(
        [sys.executable, "-m", "lernkurve.cli", "import-tb", str(tmp_path / "logs")]
        + ["--db", str(db_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.stdout.strip() == "run 1 logs: updated, 0 points added", cli.stderr


def imported(api, body: dict, timeout: float = 60.0) -> dict:
    """Start an import job over REST and wait for it to end; its last state."""
    response = api.post("/api/import/tensorboard", json=body)
    assert response.status_code == 202, response.get_json()
    job = response.get_json()["job"]
    assert response.headers["Location"] == f"/api/import/tensorboard/{job['id']}"

    def ended():
        state = api.get(f"/api/import/tensorboard/{job['id']}").get_json()["job"]
        return state["state"] != "running" and state

    return wait_for(ended, timeout)


def test_the_rest_route_imports_once_and_refuses_what_is_not_a_logdir(api, tmp_path):
    writer = TorchWriter(log_dir=str(tmp_path / "logs" / "run1"))
    for step in range(5):
        writer.add_scalar("loss", 1.0 + step, step)
    writer.close()
    body = {"logdir": str(tmp_path / "logs")}
    first = imported(api, body)
    assert first["state"] == "done" and first["errors"] == [], first
    [run] = first["runs"]
    assert run["added"] == 5 and run["new"] and run["name"] == "logs/run1"
    assert first["progress"]["points"] == 5 and first["progress"]["files_done"] == 1
    assert series(api, run["run_id"], "loss") == {s: 1.0 + s for s in range(5)}
    again = imported(api, body)["runs"]
    assert again[0]["added"] == 0 and again[0]["run_id"] == run["run_id"]
    assert imported(api, {"logdir": str(tmp_path)})["runs"] == again  # found from above

    for bad, status in [
        ({}, 400),
        ({"logdir": 7}, 400),
        ({"logdir": ""}, 400),
        ({"logdir": "a\x00b"}, 400),
        ({**body, "max_files": 0}, 400),
        ({**body, "max_files": True}, 400),
        ({**body, "max_bytes": "1G"}, 400),
        ({**body, "max_seconds": -1}, 400),
        ({"logdir": str(tmp_path / "nowhere")}, 404),
    ]:
        response = api.post("/api/import/tensorboard", json=bad)
        assert response.status_code == status, (bad, response.get_json())
    assert api.get("/api/import/tensorboard/nope").status_code == 404
    (tmp_path / "empty").mkdir()
    empty = imported(api, {"logdir": str(tmp_path / "empty")})
    assert empty["state"] == "done" and empty["runs"] == []
    assert empty["message"].startswith("no TensorBoard event files under")
    unauthorized = api.client.post("/api/import/tensorboard", json=body)
    assert unauthorized.status_code == 401
