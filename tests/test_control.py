"""A built-in run trains in a worker thread and obeys commands sent through the REST API."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from support import wait_for

SLOW = {"delay_ms": 3.0, "epochs": 1000}  # long enough to steer, short steps
STEPS_PER_EPOCH = 38  # the spiral task: 600 examples in batches of 16


def lr_points(api, run_id):
    series = api.get(f"/api/runs/{run_id}/metrics?keys=lr").get_json()["series"]
    return series["lr"]


def test_run_trains_to_completion_and_logs_every_metric(api):
    run = api.start("spiral", epochs=2)
    done = api.wait_status(run["id"], "completed")
    assert done["step"] == done["total_steps"] == 2 * STEPS_PER_EPOCH
    series = api.get(f"/api/runs/{run['id']}/metrics").get_json()["series"]
    assert set(series) == {"train_loss", "val_loss", "val_accuracy", "lr"}
    assert len(series["train_loss"]) == done["step"]
    assert len(series["val_loss"]) == 2
    assert (
        api.get(f"/api/runs/{run['id']}/snapshots?kind=boundary&latest=1").get_json()["snapshots"][
            0
        ]["payload"]["n"]
        == 32
    )


def test_lr_change_reaches_the_optimizer_from_the_event_step_on(api):
    run = api.start("spiral", lr=0.1, **SLOW)
    wait_for(lambda: api.run(run["id"])["step"] > 5)
    response = api.patch(f"/api/runs/{run['id']}/hparams", json={"lr": 0.01})
    assert response.status_code == 200
    assert response.get_json()["hparams"]["lr"] == 0.01
    event = wait_for(lambda: api.events(run["id"], "hparams"))[0]
    assert event["payload"]["changes"] == {"lr": [0.1, 0.01]}
    wait_for(lambda: api.run(run["id"])["step"] > event["step"] + 5)
    for step, value, _ in lr_points(api, run["id"]):
        assert value == (0.01 if step >= event["step"] else 0.1), step
    assert api.run(run["id"])["hparams"]["lr"] == 0.01


def test_pause_holds_step_then_step_advances_exactly_one_then_resume(api):
    run_id = api.start("spiral", **SLOW)["id"]
    wait_for(lambda: api.run(run_id)["step"] > 3)
    assert api.control(run_id, "pause").status_code == 202
    paused = api.wait_status(run_id, "paused")
    time.sleep(0.4)
    assert api.run(run_id)["step"] == paused["step"]

    assert api.control(run_id, "step").status_code == 202
    wait_for(lambda: api.run(run_id)["step"] == paused["step"] + 1)
    time.sleep(0.4)
    after = api.run(run_id)
    assert (after["step"], after["status"]) == (paused["step"] + 1, "paused")

    api.control(run_id, "resume")
    wait_for(lambda: api.run(run_id)["step"] > paused["step"] + 5)
    assert api.run(run_id)["status"] == "running"
    kinds = [e["kind"] for e in api.events(run_id)]
    assert kinds == ["pause", "step", "resume"]


def test_stop_ends_the_run_as_stopped(api):
    run_id = api.start("spiral", **SLOW)["id"]
    wait_for(lambda: api.run(run_id)["step"] > 2)
    api.control(run_id, "stop")
    stopped = api.wait_status(run_id, "stopped")
    assert stopped["ended_at"] is not None
    assert api.control(run_id, "pause").status_code == 409
    assert api.patch(f"/api/runs/{run_id}/hparams", json={"lr": 0.5}).status_code == 409


def test_checkpoint_saves_model_and_optimizer_and_records_it(api):
    run_id = api.start("spiral", **SLOW)["id"]
    wait_for(lambda: api.run(run_id)["step"] > 2)
    api.control(run_id, "checkpoint")
    ckpt = wait_for(lambda: api.get(f"/api/runs/{run_id}/checkpoints").get_json()["checkpoints"])
    import torch

    state = torch.load(ckpt[0]["path"], weights_only=True)  # a checkpoint is plain data
    assert state["step"] == ckpt[0]["step"] and state["model"] and state["optimizer"]
    assert api.events(run_id, "checkpoint")[0]["step"] == ckpt[0]["step"]


def test_batch_size_change_takes_effect_from_the_next_batch(api):
    run = api.start("spiral", batch_size=16, **SLOW)
    assert run["total_steps"] == 1000 * STEPS_PER_EPOCH
    wait_for(lambda: api.run(run["id"])["step"] > 2)
    api.patch(f"/api/runs/{run['id']}/hparams", json={"batch_size": 200})
    # 600 examples in batches of 200: three steps an epoch from the change on.
    wait_for(lambda: api.run(run["id"])["total_steps"] < 1000 * 3 + 50)


def test_fork_from_a_checkpoint_starts_a_child_with_changed_hparams(api):
    parent_id = api.start("spiral", **SLOW)["id"]
    wait_for(lambda: api.run(parent_id)["step"] > 2)
    api.control(parent_id, "checkpoint")
    ckpt = wait_for(lambda: api.get(f"/api/runs/{parent_id}/checkpoints").get_json()["checkpoints"])
    # One epoch past the checkpoint's, wherever a busy machine let the parent get to (a fork
    # whose epochs are all behind its checkpoint completes with no steps).
    epochs = ckpt[0]["step"] // STEPS_PER_EPOCH + 1
    response = api.post(
        f"/api/runs/{parent_id}/fork",
        json={"checkpoint_id": ckpt[0]["id"], "hparams": {"lr": 0.02, "epochs": epochs}},
    )
    assert response.status_code == 201
    child = response.get_json()
    assert (child["parent_id"], child["parent_step"]) == (parent_id, ckpt[0]["step"])
    assert child["hparams"]["lr"] == 0.02
    api.wait_status(child["id"], "completed")
    first = lr_points(api, child["id"])
    assert first[0][0] == ckpt[0]["step"] and first[0][1] == 0.02
    assert api.events(parent_id, "fork")[0]["payload"]["child_id"] == child["id"]


def test_a_fork_with_no_epochs_left_says_it_has_nothing_to_train(api):
    parent_id = api.start("spiral", **SLOW)["id"]
    wait_for(lambda: api.run(parent_id)["step"] > STEPS_PER_EPOCH + 2)
    api.control(parent_id, "checkpoint")
    ckpt = wait_for(lambda: api.get(f"/api/runs/{parent_id}/checkpoints").get_json()["checkpoints"])
    api.control(parent_id, "stop")
    body = {"checkpoint_id": ckpt[0]["id"], "hparams": {"epochs": 1}}
    child = api.post(f"/api/runs/{parent_id}/fork", json=body).get_json()
    done = api.wait_status(child["id"], "completed")
    assert done["step"] == ckpt[0]["step"] and lr_points(api, child["id"]) == []
    (note,) = api.events(child["id"], "note")
    epochs_in = ckpt[0]["step"] / STEPS_PER_EPOCH  # batches of 16 with a short last one
    message = note["payload"]["message"]
    assert message.startswith("nothing to train: the checkpoint is ") and message.endswith(
        " epochs in, this run trains 1"
    )
    assert float(message.split()[6]) == pytest.approx(epochs_in, rel=0.01, abs=0.05)  # 3 digits


def test_an_exception_in_a_task_marks_the_run_failed(api, app):
    parent_id = api.start("spiral", **SLOW)["id"]
    wait_for(lambda: api.run(parent_id)["step"] > 2)
    api.control(parent_id, "checkpoint")
    ckpt = wait_for(lambda: api.get(f"/api/runs/{parent_id}/checkpoints").get_json()["checkpoints"])
    Path(ckpt[0]["path"]).unlink()  # the person deleted the file the fork starts from
    refused = api.post(f"/api/runs/{parent_id}/fork", json={"checkpoint_id": ckpt[0]["id"]})
    assert refused.status_code == 410  # at once, rather than a child that fails
    parent = api.run(parent_id)  # a fork queued before the file went: its start fails
    config = {**parent["config"], "resume_from": ckpt[0]["path"]}
    child = app.extensions["lernkurve"].db.insert_run(
        name="child", task="spiral", status="queued", hparams=parent["hparams"], config=config
    )
    failed = api.wait_status(child.id, "failed")
    assert failed["error"].startswith("FileNotFoundError")
    error = api.events(failed["id"], "error")[0]
    assert "Traceback" in error["payload"]["traceback"]


def test_several_runs_train_at_once(api):
    ids = [api.start(task, delay_ms=3.0, epochs=1000)["id"] for task in ("spiral", "digits")]
    wait_for(lambda: all(api.run(i)["step"] > 5 for i in ids), timeout=30)
    assert {api.run(i)["status"] for i in ids} == {"running"}


def test_a_force_deleted_built_in_run_stops_training(api, app):
    run_id = api.start("spiral", **SLOW)["id"]
    worker = app.extensions["lernkurve"].worker
    wait_for(lambda: api.run(run_id)["step"] > 2)
    assert api.delete(f"/api/runs/{run_id}?force=1").status_code == 204
    wait_for(lambda: run_id not in worker.active(), timeout=10)
