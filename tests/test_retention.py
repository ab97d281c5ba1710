"""Checkpoint retention: keep_last newest files, the best by a metric, what a fork starts from;
never a framework's own files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_run import rows

from lernkurve.store.models import Checkpoint, RunRow
from lernkurve.tracking import client


def train(db_path, losses: dict[int, float] | None = None, steps: int = 20, fork_at=None, **keep):
    """Save a checkpoint every 2 steps (the loss logged first); returns the run."""
    model = torch.nn.Linear(2, 1)
    run = client.init(config={"lr": 0.1}, db=db_path, system_metrics=False, **keep)
    run.watch(model, torch.optim.SGD(model.parameters(), lr=0.1))
    for step in run.steps(steps):
        run.log({"val/loss": (losses or {}).get(step, 1.0 + step)})
        if step % 2 == 1:
            run.save_checkpoint()
        if fork_at is not None and step == fork_at:
            fork_from(run, step + 1)
    run.finish()
    return run


def fork_from(run, step: int) -> None:
    """A child run whose config starts from the checkpoint at ``step`` (as the app's fork does)."""
    run.flush()
    path = next(c.path for c in rows(run.db, Checkpoint, run.id) if c.step == step)
    with run.db.Session() as session:
        config = {"resume_from": path}
        session.add(RunRow(name="fork", task="spiral", parent_id=run.id, config=config))
        session.commit()


def kept(run) -> list[int]:
    """The steps whose checkpoint row and file both remain; every file has a row."""
    listed = {c.step: c.path for c in rows(run.db, Checkpoint, run.id)}
    folder = Path(next(iter(listed.values()))).parent
    assert sorted(str(p) for p in folder.glob("*.pt")) == sorted(listed.values())
    return sorted(listed)


def test_the_newest_keep_last_files_stay(db_path):
    assert kept(train(db_path, keep_last=3)) == [16, 18, 20]


def test_five_stay_unless_told_otherwise(db_path):
    assert kept(train(db_path)) == [12, 14, 16, 18, 20]
    assert kept(train(db_path, keep_last=None)) == list(range(2, 21, 2))


def test_the_best_by_a_metric_stays_too(db_path):
    run = train(db_path, {5: 0.01}, keep_last=2, keep_best="val/loss")
    assert kept(run) == [6, 18, 20]  # step 5's loss, the lowest, was logged before step 6's save
    run = train(db_path, {5: 99.0}, keep_last=2, keep_best="val/loss", keep_best_mode="max")
    assert kept(run) == [6, 18, 20]


def test_a_file_a_fork_starts_from_stays(db_path):
    assert kept(train(db_path, keep_last=2, fork_at=3)) == [4, 18, 20]


def test_a_frameworks_own_checkpoints_are_never_deleted(db_path, tmp_path):
    run = client.init(config={"lr": 0.1}, db=db_path, system_metrics=False, keep_last=1)
    for step in range(3):
        own = tmp_path / f"checkpoint-{step}"
        own.mkdir()
        run.record_checkpoint(own, step)
    run.finish()
    assert sorted(c.step for c in rows(run.db, Checkpoint, run.id)) == [0, 1, 2]
    assert all((tmp_path / f"checkpoint-{step}").exists() for step in range(3))


def test_bad_retention_settings_are_refused(db_path):
    for bad in ({"keep_last": 0}, {"keep_last": 2.5}, {"keep_best_mode": "lowest"}):
        with pytest.raises(ValueError):
            client.init(config={}, db=db_path, **bad)
