"""Every bad input gets a clear 4xx JSON error and changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from lernkurve.store.models import Checkpoint, Command, now
from lernkurve.store.processes import process_identity
from support import open_sqlite, wait_for


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


def test_deeply_nested_json_is_a_400(api):
    body = "[" * 100_00 + "]" * 100_00
    response = api.post("/api/runs", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    "query",
    [
        "since_id=9223372036854775808",
        "since_id=-1",
        "since_id=1e3",
        "max_points=" + "9" * 5000,
        "since_step=-1",
        "since_step=x",
    ],
)
def test_out_of_range_query_numbers_are_400(api, query):
    run_id = api.start("spiral", epochs=1)["id"]
    response = api.get(f"/api/runs/{run_id}/metrics?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_argument"


@pytest.mark.parametrize(
    ("keys", "status"),
    [
        (",".join(f"k{i}" for i in range(65)), 400),
        (",".join(f"k{i}" for i in range(32_000)), 400),
        ("x" * 101, 400),
        (",".join(["k"] * 32_000), 200),  # one name, many times
    ],
)
def test_key_lists_are_bounded(api, keys, status):
    run_id = api.start("spiral", epochs=1)["id"]
    response = api.get(f"/api/runs/{run_id}/metrics?keys={keys}")  # its time: bench_api.py
    assert response.status_code == status
    if status == 400:
        assert response.get_json()["error"]["code"] == "invalid_argument"


def test_the_most_keys_allowed_answer_every_series(api, app):
    db = app.extensions["lernkurve"].db
    run_id = db.insert_run(name="r", task="spiral", status="stopped").id
    with db.engine.begin() as conn:
        rows = [(run_id, f"k{i}", step, 1.0, 0.0) for i in range(64) for step in range(20)]
        db.insert_metrics(conn, rows)
    keys = ",".join(f"k{i}" for i in range(64))
    response = api.get(f"/api/runs/{run_id}/metrics?keys={keys}&max_points=1000")
    assert response.status_code == 200  # how fast: benchmarks/bench_api.py
    series = response.get_json()["series"]
    assert len(series) == 64 and all(len(points) == 20 for points in series.values())


def test_a_chunked_body_over_the_cap_is_a_413(live_server):
    body = b'{"task": "spiral", "name": "' + b"x" * 2_200_000 + b'"}'  # a new run: 2 MiB cap
    status, answer = live_server.post_chunked(
        "/api/runs", [body[i : i + 65536] for i in range(0, len(body), 65536)]
    )
    assert status == 413 and answer["error"]["code"] == "request_entity_too_large"
    status, answer = live_server.post_chunked("/api/runs", [b'{"task": "spiral"}'])
    assert status == 201


def make_run(app, status: str, heartbeat_age: float | None = None, **fields) -> int:
    beat = None if heartbeat_age is None else now() - heartbeat_age
    db = app.extensions["lernkurve"].db
    return db.insert_run(name="r", task="spiral", status=status, heartbeat_at=beat, **fields).id


@pytest.mark.parametrize(
    ("status", "heartbeat_age"),
    [("queued", None), ("running", 1.0), ("paused", 1.0), ("interrupted", 5.0)],
)
def test_a_run_whose_process_may_live_is_not_deleted_without_force(api, app, status, heartbeat_age):
    run_id = make_run(app, status, heartbeat_age)
    response = api.delete(f"/api/runs/{run_id}")
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "run_may_live" and error["run_status"] == status
    assert api.get(f"/api/runs/{run_id}").status_code == 200
    assert api.delete(f"/api/runs/{run_id}?force=1").status_code == 204
    assert api.get(f"/api/runs/{run_id}").status_code == 404


def test_a_run_interrupted_long_ago_is_deleted(api, app):
    run_id = make_run(app, "interrupted", heartbeat_age=120.0)
    assert api.delete(f"/api/runs/{run_id}").status_code == 204


def test_force_must_be_0_or_1(api, app):
    run_id = make_run(app, "running", 1.0)
    assert api.delete(f"/api/runs/{run_id}?force=yes").status_code == 400
    assert api.get(f"/api/runs/{run_id}").status_code == 200


def add_checkpoint(app, run_id: int, path, step: int = 5) -> int:
    with app.extensions["lernkurve"].db.Session() as session:
        row = Checkpoint(run_id=run_id, step=step, path=str(path), created_at=now())
        session.add(row)
        session.commit()
        return row.id


def test_deleting_a_run_deletes_its_checkpoint_files(api, app, tmp_path):
    run_id = make_run(app, "stopped")
    folder = tmp_path / "ckpt" / f"run-{run_id}"
    folder.mkdir(parents=True)
    files = [folder / "step-5.pt", folder / "step-9.pt"]
    for step, path in zip((5, 9), files, strict=True):
        path.write_bytes(b"model")
        add_checkpoint(app, run_id, path, step)
    forked = tmp_path / "ckpt" / "forked-from.pt"  # a fork of another run starts from it
    forked.write_bytes(b"model")
    add_checkpoint(app, run_id, forked, 12)
    make_run(app, "queued", config={"resume_from": str(forked)})
    assert api.delete(f"/api/runs/{run_id}").status_code == 204
    assert not folder.exists() and forked.exists()


def test_forking_a_checkpoint_whose_file_is_gone_is_a_410(api, app, tmp_path):
    run_id = make_run(app, "stopped", config={})
    ckpt_id = add_checkpoint(app, run_id, tmp_path / "gone.pt")
    response = api.post(f"/api/runs/{run_id}/fork", json={"checkpoint_id": ckpt_id})
    assert response.status_code == 410
    assert response.get_json()["error"]["code"] == "checkpoint_gone"
    assert len(api.get("/api/runs").get_json()["runs"]) == 1


def test_two_checkpoints_at_one_step_keep_one_row(api, live_run):
    run_id = live_run["id"]
    api.control(run_id, "pause")
    api.wait_status(run_id, "paused")
    api.control(run_id, "checkpoint")
    api.control(run_id, "checkpoint")
    wait_for(lambda: len(api.events(run_id, "checkpoint")) == 2)
    rows = api.get(f"/api/runs/{run_id}/checkpoints").get_json()["checkpoints"]
    assert len(rows) == 1


def test_an_interrupted_run_whose_process_still_exists_is_not_deleted(api, app):
    """A script stopped for minutes (SIGSTOP, a debugger) beats no heartbeat but lives."""
    run_id = make_run(app, "interrupted", heartbeat_age=600.0, config=process_identity())
    response = api.delete(f"/api/runs/{run_id}")
    assert response.status_code == 409
    assert f"pid {os.getpid()}" in response.get_json()["error"]["message"]


def test_an_interrupted_run_whose_process_is_gone_is_deleted_at_once(api, app):
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    config = {**process_identity(), "pid": int(ended.stdout)}
    run_id = make_run(app, "interrupted", heartbeat_age=5.0, config=config)
    assert api.delete(f"/api/runs/{run_id}").status_code == 204


@pytest.mark.sqlite_only
def test_a_database_locked_past_the_busy_timeout_answers_503_not_500(app, db_path):

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from lernkurve.web.rest import database_refused

    holder = open_sqlite(db_path)
    holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
    engine = create_engine(f"sqlite:///{db_path}", connect_args={"timeout": 0})
    try:
        with pytest.raises(OperationalError) as caught, engine.begin() as conn:
            conn.execute(text("UPDATE runs SET step = 1"))
        with app.test_request_context("/api/runs"):
            body, status, headers = database_refused(caught.value)
        assert status == 503 and headers["Retry-After"] == "1"
        assert body.get_json()["error"]["code"] == "database_busy"
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()
