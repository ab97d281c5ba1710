"""Release only what is pinned, and lr times a factor: what the REST API takes and refuses.

The runs here are rows with no process behind them (a script's task, so no worker claims one):
the tests read what the API stores and answers, and shape the run's optimizer state by writing
its `optimizer` snapshots as the run's writer would.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lernkurve.shared.hparams import defaults
from lernkurve.shared.taskspecs import task_schema
from lernkurve.store.models import Command, Snapshot

SCHEMA = {
    **task_schema("spiral"),
    "warmup": {"type": "float", "min": 0.0, "max": 1.0, "default": 0.1, "live": False},
}


@pytest.fixture
def database(app):
    return app.extensions["lernkurve"].db


@pytest.fixture
def new_run(database):
    def new_run(status: str = "running") -> int:
        row = database.insert_run(
            name="steered",
            task="script",
            status=status,
            hparams=defaults(SCHEMA),
            config={"schema": SCHEMA},
        )
        return row.id

    return new_run


def optimizer_snapshot(database, run_id: int, lr_mode: str, factor: float = 1.0, **extra) -> None:
    payload = {
        "groups": [{"lr": 0.1, "weight_decay": 0.0, "momentum": 0.9}],
        "lr_mode": lr_mode,
        "lr_factor": factor,
        "scheduled": True,
        **extra,
    }
    with database.Session() as session:
        session.add(Snapshot(run_id=run_id, step=3, kind="optimizer", payload=payload))
        session.commit()


def commands(database, run_id: int) -> list[tuple[str, dict]]:
    with database.Session() as session:
        query = select(Command).where(Command.run_id == run_id).order_by(Command.id)
        return [(c.kind, c.payload) for c in session.scalars(query)]


def refused_release(api, run_id: int) -> str:
    response = api.control(run_id, "release")
    assert response.status_code == 409, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "nothing_to_release"
    return error["message"]


# -- release ---------------------------------------------------------------------------------


def test_a_pinned_lr_is_released(api, database, new_run):
    run_id = new_run()
    optimizer_snapshot(database, run_id, "override")
    response = api.control(run_id, "release")
    assert response.status_code == 202
    assert commands(database, run_id) == [("release", {})]


def test_a_scaled_lr_has_nothing_to_release_and_the_answer_says_why(api, database, new_run):
    run_id = new_run()
    optimizer_snapshot(database, run_id, "scale", factor=0.5)
    assert refused_release(api, run_id) == (
        "lr is not pinned: it follows the schedule ×0.5, so there is nothing to release; "
        "send a new value or a factor to change it"
    )
    assert commands(database, run_id) == []


def test_without_a_schedule_or_a_factor_the_reason_says_so(api, database, new_run):
    plain, unscheduled = new_run(), new_run()
    optimizer_snapshot(database, plain, "scale")
    optimizer_snapshot(database, unscheduled, "scale", scheduled=False)
    assert "it follows the schedule, so" in refused_release(api, plain)
    assert "it follows the value it was given" in refused_release(api, unscheduled)


def test_a_run_that_watches_no_optimizer_has_nothing_to_release(api, database, new_run):
    running, queued = new_run(), new_run("queued")
    assert "watches no optimizer" in refused_release(api, running)
    assert "has not started yet" in refused_release(api, queued)
    assert commands(database, running) == commands(database, queued) == []


def test_the_latest_optimizer_snapshot_decides(api, database, new_run):
    run_id = new_run()
    optimizer_snapshot(database, run_id, "override")
    optimizer_snapshot(database, run_id, "scale")  # released since
    refused_release(api, run_id)
    optimizer_snapshot(database, run_id, "override")  # pinned again
    assert api.control(run_id, "release").status_code == 202


def test_a_release_right_after_a_pin_not_yet_applied_is_taken(api, database, new_run):
    run_id = new_run()
    optimizer_snapshot(database, run_id, "scale")
    pin = {"lr": 0.05, "lr_mode": "override"}
    assert api.patch(f"/api/runs/{run_id}/hparams", json=pin).status_code == 200
    assert api.control(run_id, "release").status_code == 202
    assert [kind for kind, _ in commands(database, run_id)] == ["hparams", "release"]


def test_a_finished_run_is_refused_before_its_lr_is_looked_at(api, new_run):
    response = api.control(new_run("stopped"), "release")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "run_finished"


# -- lr times a factor -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"lr": {"scale": 0}}, "invalid_hparams"),
        ({"lr": {"scale": -0.5}}, "invalid_hparams"),
        ({"lr": {"scale": "NaN"}}, "invalid_hparams"),
        ({"lr": {"scale": "inf"}}, "invalid_hparams"),
        ({"lr": {"scale": "0.5"}}, "invalid_hparams"),
        ({"lr": {"scale": True}}, "invalid_hparams"),
        ({"lr": {"scale": None}}, "invalid_hparams"),
        ({"lr": {"scale": 1, "x": 2}}, "invalid_hparams"),
        ({"lr": {}}, "invalid_hparams"),
        ({"batch_size": {"scale": 2}}, "invalid_hparams"),  # an int
        ({"optimizer": {"scale": 2}}, "invalid_hparams"),  # a choice
        ({"lr": {"scale": 200}}, "invalid_hparams"),  # 0.1 × 200 = 20 > max 10
        ({"lr": {"scale": 1e-6}}, "invalid_hparams"),  # 1e-7 < min 1e-6
        ({"warmup": {"scale": 0.5}}, "invalid_hparams"),  # fixed at start
        ({"bogus": {"scale": 2}}, "invalid_hparams"),
        ({"lr": {"scale": 0.5}, "weight_decay": 5}, "invalid_hparams"),  # nothing of it is sent
        ({"lr": {"scale": 0.5}, "lr_mode": "override"}, "invalid_lr_mode"),
    ],
)
def test_a_bad_factor_is_refused_and_stores_nothing(api, database, new_run, body, code):
    run_id = new_run()
    response = api.patch(f"/api/runs/{run_id}/hparams", json=body)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    assert commands(database, run_id) == []


@pytest.mark.parametrize("raw", ['{"lr": {"scale": NaN}}', '{"lr": {"scale": Infinity}}'])
def test_a_factor_that_is_no_finite_number_is_refused(api, database, new_run, raw):
    run_id = new_run()
    response = api.patch(f"/api/runs/{run_id}/hparams", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert "finite" in response.get_json()["error"]["message"]
    assert commands(database, run_id) == []


def test_a_factor_names_the_key_it_refuses(api, new_run):
    error = api.patch(f"/api/runs/{new_run()}/hparams", json={"lr": {"scale": 200}}).get_json()[
        "error"
    ]
    assert error["key"] == "lr" and "between 1e-06 and 10.0" in error["message"]


def test_a_good_factor_is_stored_as_asked_and_answered_as_it_stands_now(api, database, new_run):
    run_id = new_run()
    response = api.patch(f"/api/runs/{run_id}/hparams", json={"lr": {"scale": 0.5}})
    assert response.status_code == 200
    assert response.get_json()["hparams"]["lr"] == pytest.approx(0.05)
    response = api.patch(
        f"/api/runs/{run_id}/hparams", json={"lr": {"scale": 2}, "weight_decay": 0.01}
    )
    assert response.status_code == 200
    assert commands(database, run_id) == [
        ("hparams", {"lr": {"scale": 0.5}, "lr_mode": "scale"}),
        ("hparams", {"lr": {"scale": 2.0}, "weight_decay": 0.01, "lr_mode": "scale"}),
    ]


def test_a_factor_on_a_finished_run_is_refused(api, new_run):
    response = api.patch(f"/api/runs/{new_run('completed')}/hparams", json={"lr": {"scale": 2}})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "run_finished"
