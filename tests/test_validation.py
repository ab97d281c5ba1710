"""Every bad input gets a clear 4xx JSON error and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from database import Command
from support import wait_for


@pytest.fixture
def live_run(api):
    run = api.start("spiral", delay_ms=5.0, epochs=1000)
    wait_for(lambda: api.run(run["id"])["status"] == "running")
    return run


def command_count(app) -> int:
    with app.extensions["lernkurve"].db.Session() as session:
        return session.scalar(select(func.count()).select_from(Command))


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"lr": "fast"}, 400, "invalid_hparams"),
        ({"lr": 50}, 400, "invalid_hparams"),
        ({"lr": -0.1}, 400, "invalid_hparams"),
        ({"batch_size": 3.5}, 400, "invalid_hparams"),
        ({"lr": True}, 400, "invalid_hparams"),
        ({"lr": 10**400}, 400, "invalid_hparams"),
        ({"batch_size": 10**30}, 400, "invalid_hparams"),
        ({"bogus": 1}, 400, "invalid_hparams"),
        ({"epochs": 5}, 400, "invalid_hparams"),  # fixed at start
        ({"lr": 0.01, "bogus": 1}, 400, "invalid_hparams"),  # nothing applied, not even lr
        ({}, 400, "invalid_hparams"),
        ([0.1], 400, "invalid_json"),
    ],
)
def test_bad_hparams_are_refused_and_change_nothing(api, app, live_run, body, status, code):
    response = api.patch(f"/api/runs/{live_run['id']}/hparams", json=body)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    assert command_count(app) == 0
    assert api.run(live_run["id"])["hparams"] == live_run["hparams"]


def test_out_of_range_message_names_the_range(api, live_run):
    error = api.patch(f"/api/runs/{live_run['id']}/hparams", json={"lr": 50}).get_json()["error"]
    assert error == {
        "code": "invalid_hparams",
        "message": "lr must be between 1e-06 and 10.0, got 50",
        "key": "lr",
    }


def test_malformed_json_is_a_400(api, app, live_run):
    response = api.patch(
        f"/api/runs/{live_run['id']}/hparams", data="{lr: 0.1", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"
    assert command_count(app) == 0


def test_huge_body_is_a_413(api, app, live_run):
    body = '{"lr": 0.1, "pad": "' + "x" * 100_000 + '"}'
    response = api.patch(
        f"/api/runs/{live_run['id']}/hparams", data=body, content_type="application/json"
    )
    assert response.status_code == 413
    assert "error" in response.get_json()
    assert command_count(app) == 0


@pytest.mark.parametrize("body", [{"action": "explode"}, {"action": "pause", "x": 1}, {}])
def test_unknown_action_is_a_400(api, app, live_run, body):
    response = api.post(f"/api/runs/{live_run['id']}/control", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_action"
    assert command_count(app) == 0


def test_unknown_run_is_a_404(api):
    for response in (
        api.get("/api/runs/999"),
        api.patch("/api/runs/999/hparams", json={"lr": 0.1}),
        api.post("/api/runs/999/control", json={"action": "pause"}),
        api.get("/api/runs/999/metrics"),
    ):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {"task": "imagenet"},
        {"task": "spiral", "hparams": {"lr": 100}},
        {"task": "spiral", "hparams": {"hidden": []}},
        {"task": "spiral", "hparams": {"optimizer": "lbfgs"}},
        {"task": "spiral", "colour": "red"},
        {"task": "spiral", "name": 7},
        {"task": []},
        {"task": {"a": 1}},
        {"task": "spiral", "hparams": {"epochs": 10**400}},
        {"task": "spiral", "hparams": {"optimizer": 1}},
    ],
)
def test_bad_new_run_is_refused_and_nothing_is_created(api, body):
    response = api.post("/api/runs", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"]
    assert api.get("/api/runs").get_json()["runs"] == []


def test_bad_query_arguments_are_400(api, live_run):
    response = api.get(f"/api/runs/{live_run['id']}/metrics?max_points=lots")
    assert response.status_code == 400


def test_unknown_api_path_answers_json(api):
    response = api.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_a_finished_run_cannot_be_deleted_while_live_but_can_after(api, live_run):
    assert api.delete(f"/api/runs/{live_run['id']}").status_code == 409
    api.control(live_run["id"], "stop")
    api.wait_status(live_run["id"], "stopped")
    assert api.delete(f"/api/runs/{live_run['id']}").status_code == 204
    assert api.get(f"/api/runs/{live_run['id']}").status_code == 404


def test_a_huge_run_id_is_a_404(api):
    assert api.get(f"/api/runs/{10**30}").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"checkpoint_id": {"a": 1}},
        {"checkpoint_id": 10**21},
        {"checkpoint_id": True},
        {"checkpoint_id": 1, "name": ["x"]},
        {"checkpoint_id": 1, "name": "y" * 5000},
    ],
)
def test_bad_fork_requests_are_400(api, live_run, body):
    api.control(live_run["id"], "checkpoint")
    wait_for(lambda: api.get(f"/api/runs/{live_run['id']}/checkpoints").get_json()["checkpoints"])
    response = api.post(f"/api/runs/{live_run['id']}/fork", json=body)
    assert response.status_code == 400, response.get_json()
    assert len(api.get("/api/runs").get_json()["runs"]) == 1
