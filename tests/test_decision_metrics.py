"""A decision on a metric the run never logged is refused at once, naming the keys it does log:
the lr test, the race and the autopilot (REST). The autopilot watches the run's own loss key
when none is named."""

from __future__ import annotations

import pytest

from lernkurve.tracking import client
from support import wait_for

LR_TEST = {"min_lr": 1e-5, "max_lr": 0.1, "steps": 20}
RACE = {"variants": [{"lr": 0.01}, {"lr": 0.02}], "steps": 10}


def logging_run(api, db_path, **values):
    """A live script run (this process) that has logged ``values`` at steps 0-2."""
    run = client.init(
        name="logs", config={"lr": 0.01}, live=["lr"], db=db_path, system_metrics=False
    )
    for step in range(3):
        run.log(values, step=step)
    for key in values:
        wait_for(lambda key=key: len(api.points(run.id, key)) == 3)
    return run


@pytest.fixture
def run(api, db_path):
    run = logging_run(api, db_path, **{"train/loss": 0.5, "accuracy": 0.9})
    yield run
    run.finish()


def runs_made(api) -> int:
    return len(api.get("/api/runs").get_json()["runs"])


def refused(response, code: str = "unknown_metric") -> dict:
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code
    return error


@pytest.mark.parametrize(
    ("route", "body"),
    [("lr_test", {**LR_TEST, "metric": "train_loss"}), ("race", {**RACE, "metric": "train_loss"})],
)
def test_a_trial_on_a_metric_never_logged_is_refused_naming_the_logged_keys(api, run, route, body):
    error = refused(api.post(f"/api/runs/{run.id}/{route}", json=body))
    assert "never logged 'train_loss'" in error["message"]
    assert "train/loss, accuracy" in error["message"]
    assert error["keys"] == ["train/loss", "accuracy"]  # loss keys first
    assert runs_made(api) == 1  # no child run was made


def test_a_trial_without_a_metric_needs_a_loss_key_the_run_logs(api, db_path):
    run = logging_run(api, db_path, accuracy=0.9)
    try:
        for route, body in (("lr_test", LR_TEST), ("race", RACE)):
            error = refused(api.post(f"/api/runs/{run.id}/{route}", json=body))
            assert "no key with 'loss' in its name" in error["message"]
            assert error["keys"] == ["accuracy"]
    finally:
        run.finish()


def test_a_run_that_has_logged_nothing_yet_says_so(api, db_path):
    run = client.init(
        name="silent", config={"lr": 0.01}, live=["lr"], db=db_path, system_metrics=False
    )
    try:
        for route, body in (("lr_test", LR_TEST), ("race", RACE)):
            error = refused(api.post(f"/api/runs/{run.id}/{route}", json=body), "no_metrics")
            assert "has logged no metric yet" in error["message"] and error["keys"] == []
        settings = {"plateau": {"metric": "loss"}}
        response = api.patch(f"/api/runs/{run.id}/autopilot", json=settings)
        assert refused(response, "no_metrics")["keys"] == []
    finally:
        run.finish()


def test_a_logged_metric_passes_the_check(api, run):
    """The run watches no optimizer: past the metric check, the trial host's 409 answers."""
    body = {**RACE, "metric": "accuracy", "mode": "max"}
    response = api.post(f"/api/runs/{run.id}/race", json=body)
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["error"]["code"] == "cannot_host_trial"


def test_the_autopilot_refuses_a_metric_never_logged_and_saves_nothing(api, run):
    url = f"/api/runs/{run.id}/autopilot"
    body = {"enabled": True, "plateau": {"metric": "train_loss", "patience": 50}}
    error = refused(api.patch(url, json=body))
    assert "never logged 'train_loss'" in error["message"]
    assert error["keys"] == ["train/loss", "accuracy"]
    assert "autopilot" not in api.run(run.id)["config"]


def test_the_autopilot_watches_the_runs_own_loss_key_by_default(api, run):
    url = f"/api/runs/{run.id}/autopilot"
    response = api.patch(url, json={"enabled": True})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["autopilot"]["plateau"]["metric"] == "train/loss"
    assert api.run(run.id)["config"]["autopilot"]["plateau"]["metric"] == "train/loss"
    off = api.patch(url, json={"enabled": False})  # switching off checks nothing
    assert off.status_code == 200
