"""A race says how it decided, and a winner that changes nothing is kept, not a change: no
hparams event, no impact. In-process runs (a real database, model and optimizer)."""

from __future__ import annotations

import math
import random

import pytest
import torch
from sqlalchemy import select

from lernkurve.store.impact import annotate
from lernkurve.store.models import Event, Metric
from lernkurve.tracking import client
from lernkurve.tracking.run import Run


def race_in_a_loop(db_path, variants: list[dict], lr: float = 0.1, metric=None):
    """Race ``variants`` of 20 steps from step 10 of a run at ``lr``; its events, optimizer and
    the steps its own loss points have. An lr of 1e3 blows the model up: that variant always
    loses. ``metric(loss)``: what the loop logs as its loss (default: the loss itself)."""
    torch.manual_seed(0)
    db = client.open_database(db_path)
    row = db.insert_run(name="racer", task="script", status="running", hparams={"lr": lr})
    children = [
        db.insert_run(name="v", task="race", status="queued", hparams={}, parent_id=row.id).id
        for _ in variants
    ]
    run = Run(db, row.id, {"lr": lr})
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    run.watch(model, optimizer)
    payload = {"variants": variants, "steps": 20, "metric": "loss", "run_ids": children}
    x, y = torch.randn(32, 3), torch.randn(32, 1)  # no exact fit: the loss stays above 0
    for step in run.steps(60):
        if step == 10:
            run.buffer.receive_command(1, "race", payload)
        loss = (model(x) - y).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.log(step, loss=loss.item() if metric is None else metric(loss.item()))
    run.finish()
    with db.Session() as session:
        events = session.scalars(select(Event).where(Event.run_id == row.id)).all()
        query = select(Metric.step).where(Metric.run_id == row.id, Metric.key == "loss")
        steps = list(session.scalars(query.order_by(Metric.step)))
    return {e.kind: e.payload for e in events}, optimizer, steps


def test_a_race_won_by_the_current_values_is_kept_and_changes_nothing(db_path):
    events, optimizer, _ = race_in_a_loop(db_path, [{"lr": 1e3}, {"lr": 0.1}])
    race = events["race"]
    assert (race["winner"], race["kept"]) == (1, True)
    assert race["before"] == {"lr": 0.1}
    assert (race["metric"], race["mode"], race["scored_over"]) == ("loss", "min", 4)
    assert [r["score"] is not None for r in race["results"]] == [False, True]
    assert "hparams" not in events  # kept: not recorded as a change
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


def test_a_race_won_by_other_values_is_a_change_from_the_values_before(db_path):
    events, optimizer, _ = race_in_a_loop(db_path, [{"lr": 1e3}, {"lr": 0.05}])
    assert (events["race"]["winner"], events["race"]["kept"]) == (1, False)
    change = events["hparams"]
    assert change["by"] == "race" and change["changes"] == {"lr": [0.1, 0.05]}
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


def test_a_race_on_a_plateau_keeps_the_values_it_began_with(db_path):
    """The metric does not move (a converged run): a tie, which went to the first variant."""
    variants = [{"lr": 0.03}, {"lr": 0.1}, {"lr": 0.3}]
    events, optimizer, steps = race_in_a_loop(db_path, variants, metric=lambda loss: 1.0)
    race = events["race"]
    assert (race["winner"], race["kept"], race["too_close"]) == (1, True, True)
    assert [r["uncertainty"] for r in race["results"]] == [0.0, 0.0, 0.0]
    assert race["end_step"] == 11  # it goes on from where it began, with its own values
    assert "hparams" not in events and optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    assert steps == list(range(60))  # each step once: the variants' are their children's


def test_a_race_won_by_noise_alone_keeps_the_values_it_began_with(db_path):
    """Variants that differ by 0.1 % of lr, scored on a metric with noise of its own: the
    first one's better score is noise, well inside two standard errors."""
    noise = random.Random(4)  # the script's own generator: a race does not replay it
    variants = [{"lr": 0.1001}, {"lr": 0.1}]
    metric = lambda loss: loss + noise.gauss(0, 0.1)  # noqa: E731
    events, optimizer, _ = race_in_a_loop(db_path, variants, metric=metric)
    race = events["race"]
    first, second = race["results"]
    assert first["score"] < second["score"]  # the other variant did score better ...
    margin = second["score"] - first["score"]
    assert 0 < margin < 2 * math.hypot(first["uncertainty"], second["uncertainty"])
    assert (race["winner"], race["kept"], race["too_close"]) == (1, True, True)  # ... by noise
    assert "hparams" not in events and optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


def test_a_race_won_clearly_changes_the_values_it_began_with(db_path):
    events, optimizer, steps = race_in_a_loop(db_path, [{"lr": 1e-3}, {"lr": 0.1}], lr=1e-3)
    race = events["race"]
    assert (race["winner"], race["kept"], race["too_close"]) == (1, False, False)
    first, second = race["results"]
    assert first["score"] - second["score"] > 2 * math.hypot(
        first["uncertainty"], second["uncertainty"]
    )
    assert race["end_step"] == 31 and events["hparams"]["changes"] == {"lr": [1e-3, 0.1]}
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    assert steps == list(range(60))  # the winner's steps became the run's


def test_a_change_that_changed_nothing_gets_no_impact(db_path):
    db = client.open_database(db_path)
    run = db.insert_run(name="impact", task="script", status="completed", hparams={}, config={})
    points = [
        {"run_id": run.id, "key": "loss", "step": s, "value": 2.0 - 1e-3 * s, "wall_time": s / 10}
        for s in range(400)
    ]
    with db.engine.begin() as conn:
        conn.execute(Metric.__table__.insert(), points)
    events = [
        {"kind": "hparams", "step": 100, "payload": {"changes": {"lr": [0.1, 0.2]}}},
        {"kind": "hparams", "step": 200, "payload": {"changes": {"lr": [0.2, 0.2]}, "by": "race"}},
        {"kind": "hparams", "step": 300, "payload": {"changes": {"lr": [0.2, 0.3]}, "kept": True}},
    ]
    annotate(db, run.id, events)
    assert [("impact" in e) for e in events] == [True, False, False]
