"""Checkpoints on disk: their sizes, which ones a fork still needs, and deleting one.

Real files and folders in the test's temp folder; the runs are rows no worker claims (a
script's task), so a queued fork stays queued for as long as the test looks at it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lernkurve.store.models import Checkpoint


@pytest.fixture
def database(app):
    return app.extensions["lernkurve"].db


@pytest.fixture
def parent(database, tmp_path):
    """A stopped run with a file checkpoint (1,000 bytes), a Hugging Face folder checkpoint
    (300 + 200 bytes) and one whose file is not on this machine."""
    run_id = database.insert_run(name="parent", task="script", status="stopped").id
    folder = tmp_path / "ckpts"
    (folder / "checkpoint-20" / "sub").mkdir(parents=True)
    (folder / "step-10.pt").write_bytes(b"x" * 1000)
    (folder / "checkpoint-20" / "model.safetensors").write_bytes(b"y" * 300)
    (folder / "checkpoint-20" / "sub" / "optimizer.pt").write_bytes(b"z" * 200)
    paths = [folder / "step-10.pt", folder / "checkpoint-20", folder / "gone.pt"]
    ids = [add_checkpoint(database, run_id, 10 * (i + 1), path) for i, path in enumerate(paths)]
    return run_id, ids, paths


def add_checkpoint(database, run_id: int, step: int, path) -> int:
    with database.Session() as session:
        row = Checkpoint(run_id=run_id, step=step, path=str(path))
        session.add(row)
        session.commit()
        return row.id


def fork_of(database, path, status: str = "queued") -> int:
    config = {"resume_from": str(path)}
    return database.insert_run(name="fork", task="script", status=status, config=config).id


def listed(api, run_id: int) -> dict:
    response = api.get(f"/api/runs/{run_id}/checkpoints")
    assert response.status_code == 200
    return response.get_json()


def row_ids(database, run_id: int) -> list[int]:
    with database.Session() as session:
        query = select(Checkpoint.id).where(Checkpoint.run_id == run_id).order_by(Checkpoint.id)
        return list(session.scalars(query))


def test_each_checkpoint_has_its_size_on_disk_and_the_run_its_total(api, parent):
    run_id, ids, _ = parent
    answer = listed(api, run_id)
    assert [c["id"] for c in answer["checkpoints"]] == ids
    assert [c["size_bytes"] for c in answer["checkpoints"]] == [1000, 500, None]
    assert [c["in_use"] for c in answer["checkpoints"]] == [None, None, None]
    assert answer["total_bytes"] == 1500


def test_a_run_without_checkpoints_has_a_total_of_zero(api, database):
    run_id = database.insert_run(name="bare", task="script", status="stopped").id
    assert listed(api, run_id) == {"checkpoints": [], "total_bytes": 0}


def test_a_checkpoint_a_live_fork_starts_from_is_in_use(api, database, parent):
    run_id, _, paths = parent
    fork_of(database, paths[1], "stopped")  # a fork that has ended needs it no more
    child = fork_of(database, paths[0])
    reasons = [c["in_use"] for c in listed(api, run_id)["checkpoints"]]
    assert reasons == [
        f"run {child} (queued) is a fork that starts from this checkpoint",
        None,
        None,
    ]


def test_a_checkpoint_in_use_is_not_deleted(api, database, parent):
    run_id, ids, paths = parent
    child = fork_of(database, paths[0])
    response = api.delete(f"/api/runs/{run_id}/checkpoints/{ids[0]}")
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "checkpoint_in_use" and f"run {child} (queued)" in error["message"]
    assert paths[0].is_file() and row_ids(database, run_id) == ids


def test_deleting_removes_the_file_the_folder_and_the_rows(api, database, parent, socket_client):
    run_id, ids, paths = parent
    sc = socket_client()
    for checkpoint_id in ids:  # the last one's file is already gone: fine
        response = api.delete(f"/api/runs/{run_id}/checkpoints/{checkpoint_id}")
        assert response.status_code == 204
    assert not any(path.exists() for path in paths)
    assert paths[0].parent.is_dir()  # the folder that held them stays
    assert row_ids(database, run_id) == []
    assert listed(api, run_id) == {"checkpoints": [], "total_bytes": 0}
    changed = [m["args"][0] for m in sc.get_received() if m["name"] == "checkpoints_changed"]
    assert changed == [{"run_id": run_id}] * 3


def test_a_folder_not_named_as_a_checkpoint_is_left_alone(api, database, tmp_path):
    run_id = database.insert_run(name="odd", task="script", status="stopped").id
    folder = tmp_path / "my-project"
    folder.mkdir()
    (folder / "train.py").write_text("print('mine')")
    checkpoint_id = add_checkpoint(database, run_id, 5, folder)
    response = api.delete(f"/api/runs/{run_id}/checkpoints/{checkpoint_id}")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "not_a_checkpoint_folder"
    assert (folder / "train.py").is_file() and row_ids(database, run_id) == [checkpoint_id]


def test_unknown_checkpoints_and_runs_are_404(api, database, parent):
    run_id, ids, paths = parent
    other = database.insert_run(name="other", task="script", status="stopped").id
    for path in (
        f"/api/runs/{run_id}/checkpoints/{ids[-1] + 1}",
        f"/api/runs/{other}/checkpoints/{ids[0]}",  # not that run's checkpoint
        f"/api/runs/{other + 1}/checkpoints/{ids[0]}",
        f"/api/runs/{run_id}/checkpoints/{2**64}",
    ):
        response = api.delete(path)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "not_found"
    assert paths[0].is_file() and row_ids(database, run_id) == ids
