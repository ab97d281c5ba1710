"""What a training step pays for: the shortcuts on the loop's and the writer's hot paths keep
every value right (the lr each step used, a script's own lr writes, a steer, a tensor lr) and
do the work once (one log call a step, one config write and one connection a flush)."""

from __future__ import annotations

import time

import pytest
import torch
from sqlalchemy import event, func, select

from lernkurve.store.models import Metric, RunRow
from lernkurve.tracking import client
from lernkurve.tracking.steering import OptimizerSteering
from lernkurve.tracking.writer import FLUSH_INTERVAL


@pytest.fixture
def db(db_path):
    return client.open_database(db_path)


def _series(db, run_id: int, key: str) -> dict[int, float]:
    with db.Session() as session:
        query = select(Metric.step, Metric.value).where(Metric.run_id == run_id)
        return dict(session.execute(query.where(Metric.key == key)).all())


def _hold_writer(run) -> None:
    """Keep the writer thread from flushing by itself: the test flushes (the new interval
    holds from the writer's next wait on, after the one under way)."""
    run._writer.interval = 3600.0
    time.sleep(3 * FLUSH_INTERVAL)
    run.flush()


def _sgd(lr: float = 0.1):
    model = torch.nn.Linear(2, 1)
    return model, torch.optim.SGD(model.parameters(), lr=lr)


def test_a_step_logged_after_optimizer_step_is_one_log_call_with_the_lr_it_used(db):
    model, optimizer = _sgd()
    run = client.init(config={"lr": 0.1}, db=db.url, system_metrics=False)
    run.watch(model, optimizer)
    _hold_writer(run)  # the batch stays in memory: its log calls are counted
    used, entries = {}, []
    for step in run.steps(12):
        entries.append(len(run.buffer.points))  # what the step before and its boundary added
        if step == 4:
            optimizer.param_groups[0]["lr"] = 0.2  # the script's own schedule writes lr
        if step == 8:
            run.set_hparams({"lr": 0.1})  # a steer: half the schedule's 0.2
        model(torch.ones(1, 2)).sum().backward()
        optimizer.step()
        used[step] = optimizer.param_groups[0]["lr"]
        run.log(loss=1.0 / (step + 1))
    entries.append(len(run.buffer.points))
    run.finish()
    assert [b - a for a, b in zip(entries, entries[1:], strict=False)] == [1] * 12
    assert used == {s: 0.1 if s < 4 else 0.2 if s < 8 else 0.1 for s in range(12)}
    assert _series(db, run.id, "lr") == pytest.approx(used)
    assert sorted(_series(db, run.id, "loss")) == list(range(12))


def test_a_step_logged_before_optimizer_step_gets_its_lr_at_the_boundary(db):
    model, optimizer = _sgd()
    run = client.init(config={"lr": 0.1}, db=db.url, system_metrics=False)
    run.watch(model, optimizer)
    for _step in run.steps(5):
        run.log(loss=1.0)  # before optimizer.step(): this step's lr is not known yet
        model(torch.ones(1, 2)).sum().backward()
        optimizer.step()
    run.finish()
    assert _series(db, run.id, "lr") == pytest.approx(dict.fromkeys(range(5), 0.1))


def test_a_steer_handed_over_to_the_loop_drops_its_factor_at_the_next_step():
    model, optimizer = _sgd()
    steering = OptimizerSteering(optimizer)
    steering.set_lr(0.05)
    optimizer.step()
    assert optimizer.param_groups[0]["lr"] == 0.05
    steering.hand_over()  # no factor of ours on top from now on
    optimizer.step()
    assert steering.used == [0.1]
    assert optimizer.param_groups[0]["lr"] == 0.1


def test_a_script_writing_one_groups_lr_is_steered_on_that_group():
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(
        [{"params": [model.weight], "lr": 0.1}, {"params": [model.bias], "lr": 0.05}], lr=0.1
    )
    steering = OptimizerSteering(optimizer)
    steering.set_lr(0.05)  # half the schedule on every group
    optimizer.step()
    assert steering.used == [0.05, 0.025]
    optimizer.param_groups[1]["lr"] = 0.2  # the script's own schedule, the second group only
    optimizer.step()
    assert steering.used == [0.05, 0.1]
    assert [group["lr"] for group in optimizer.param_groups] == [0.05, 0.1]


def test_a_tensor_lr_is_steered_in_place():
    model = torch.nn.Linear(2, 1)
    lr = torch.tensor(0.01)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, foreach=False)
    steering = OptimizerSteering(optimizer)
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    steering.set_lr(0.005)
    optimizer.step()
    assert optimizer.param_groups[0]["lr"] is lr
    assert steering.used == [pytest.approx(0.005)] and float(lr) == pytest.approx(0.005)
    lr.fill_(0.02)  # the script's own schedule, in place
    optimizer.step()
    assert float(lr) == pytest.approx(0.01)  # still half of what the schedule says


def _count(db, what: str) -> list:
    """Counts of this database's pool checkouts ('checkout') or of statements containing
    ``what``, for as long as the test runs."""
    seen: list = []
    if what == "checkout":
        event.listen(db.engine, "checkout", lambda *args: seen.append(1))
    else:

        def statement(conn, cursor, sql, *args):
            if what in sql:
                seen.append(sql)

        event.listen(db.engine, "before_cursor_execute", statement)
    return seen


def test_a_flush_takes_one_connection_and_writes_the_config_once(db):
    run = client.init(config={"lr": 0.1}, db=db.url, system_metrics=False)
    _hold_writer(run)
    checkouts, config_writes = _count(db, "checkout"), _count(db, "UPDATE runs SET config")
    run.buffer.add("config", {"loop": {"a": True}})
    run.buffer.add("config", {"loop": {"b": True}, "told": 1})
    run.log(0, loss=1.0)
    run.flush()
    assert len(checkouts) == 1  # points, records, the row and the commands: one transaction
    assert len(config_writes) == 1
    with db.Session() as session:
        config = session.get(RunRow, run.id).config
    assert config["loop"] == {"a": True, "b": True} and config["told"] == 1
    run.finish()


def test_flush_writes_everything_logged_however_much(db):
    run = client.init(config={}, db=db.url, system_metrics=False)
    _hold_writer(run)
    for step in range(3000):  # 9,000 points: more than one write transaction takes
        run.log(step, a=1.0, b=2.0, c=3.0)
    run.flush()
    with db.Session() as session:
        stored = session.execute(select(func.count()).where(Metric.run_id == run.id)).scalar()
    run.finish()
    assert stored == 9000
