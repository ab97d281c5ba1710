"""An autopilot that can't hurt a healthy run, and an lr of 0 that is no trap.

In-process runs (a real database, a real model and optimizer), asserted at the optimizer."""

from __future__ import annotations

import math
import random

import pytest
import torch
from sqlalchemy import select

from lernkurve.shared.autopilot import DEFAULTS, merge
from lernkurve.store.models import Event
from lernkurve.tracking import client
from lernkurve.tracking.run import Run


def events(run, kind: str | None = None) -> list[Event]:
    with run.db.Session() as session:
        query = select(Event).where(Event.run_id == run.id).order_by(Event.id)
        return [e for e in session.scalars(query) if kind is None or e.kind == kind]


def regression_run(db_path, lr: float = 0.05, schema: dict | None = None):
    """examples/regression.py's run: sin(3x) with a 64-64 MLP under SGD with momentum. Healthy,
    and its batch loss jumps about by factors once it is small."""
    torch.manual_seed(0)
    config = {"lr": lr}
    run = client.init(config=config, live=["lr"], db=db_path, system_metrics=False, schema=schema)
    model = torch.nn.Sequential(
        torch.nn.Linear(1, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(),
        torch.nn.Linear(64, 1),
    )  # fmt: skip
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    run.watch(model, optimizer)
    x = torch.rand(2048, 1) * 4 - 2
    y = torch.sin(3 * x) + 0.1 * torch.randn_like(x)
    return run, model, optimizer, x, y


def train(run, model, optimizer, x, y, steps: int, batch: int = 64) -> list[float]:
    """The loop; the lr the optimizer used at each step."""
    used = []
    for _ in run.steps(steps):
        index = torch.randint(0, len(x), (batch,))
        loss = torch.nn.functional.mse_loss(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        used.append(optimizer.param_groups[0]["lr"])
        run.log(loss=loss.item())
    return used


@pytest.mark.parametrize(
    "settings",
    [{"enabled": True}, {"enabled": True, "plateau": {"enabled": False}}],
    ids=["defaults", "divergence-alone"],
)
def test_the_autopilot_never_restores_a_healthy_noisy_run(db_path, settings):
    """A classifier that learns its task to a loss near 1e-4 under Adam at lr 0.05: the batch
    loss jumps by factors there (a misclassified example), and is healthy all the while."""
    torch.manual_seed(1)
    run = client.init(config={"lr": 0.05}, live=["lr"], db=db_path, system_metrics=False)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    run.watch(model, optimizer)
    x = torch.randn(512, 4)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    run.buffer.receive_command(1, "autopilot", merge(DEFAULTS, settings))
    for _ in run.steps(5000):
        batch = torch.randint(0, 512, (32,))
        loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.log(loss=loss.item())
    run.finish()
    assert events(run, "autopilot"), "the autopilot was never switched on"
    assert events(run, "restore") == []
    cuts = [e for e in events(run, "hparams") if e.payload.get("rule") == "divergence"]
    assert cuts == []


def test_an_lr_set_to_0_rises_again_with_a_torch_scheduler(db_path):
    run, model, optimizer, x, y = regression_run(db_path)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.999)
    run.watch(model, optimizer, scheduler=scheduler)
    used = []
    optimizer.register_step_pre_hook(lambda opt, *_: used.append(opt.param_groups[0]["lr"]))
    for step in run.steps(60):
        if step == 10:
            run.buffer.receive_command(1, "hparams", {"lr": 0.0, "lr_mode": "scale"})
        if step == 30:
            run.buffer.receive_command(2, "hparams", {"lr": 0.04, "lr_mode": "scale"})
        loss = torch.nn.functional.mse_loss(model(x[:16]), y[:16])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    run.finish()
    zero, raised = events(run, "hparams")
    assert used[zero.step] == 0.0
    assert used[raised.step] == pytest.approx(0.04)
    later = used[raised.step + 10]
    assert later == pytest.approx(0.04 * 0.999**10)  # the schedule goes on, scaled


def plateau_run(db_path, minimum: float):
    """A run whose loss never improves, with the autopilot set to cut lr often and hard."""
    schema = {"lr": {"type": "float", "min": minimum, "max": 1.0, "default": 0.05, "live": True}}
    run, model, optimizer, x, y = regression_run(db_path, schema=schema)
    settings = merge(
        DEFAULTS,
        {
            "enabled": True,
            "plateau": {"patience": 10, "factor": 0.01, "max_times": 100, "min_delta": 1e9},
        },
    )
    run.buffer.receive_command(1, "autopilot", settings)
    return run, model, optimizer, x, y


def test_the_autopilot_never_takes_lr_below_the_schema_minimum(db_path):
    run, model, optimizer, x, y = plateau_run(db_path, minimum=1e-4)
    used = train(run, model, optimizer, x, y, 400)
    run.finish()
    assert min(used) == pytest.approx(1e-4) and min(used) >= 1e-4 * (1 - 1e-12)
    notes = [e.payload["message"] for e in events(run, "note")]
    assert any("at its minimum" in note for note in notes)


def test_a_rule_that_reaches_max_times_says_it_stops(db_path):
    run, model, optimizer, x, y = regression_run(db_path)
    settings = {"enabled": True, "plateau": {"patience": 10, "max_times": 2, "min_delta": 1e9}}
    run.buffer.receive_command(1, "autopilot", merge(DEFAULTS, settings))
    train(run, model, optimizer, x, y, 200)
    run.finish()
    cuts = [e for e in events(run, "hparams") if e.payload.get("rule") == "plateau"]
    assert len(cuts) == 2
    notes = [e.payload["message"] for e in events(run, "note")]
    assert any("plateau rule lowered lr 2 times" in note and "stops" in note for note in notes)


def test_after_a_restore_the_data_moves_on_and_lr_cuts_compound(db_path):
    """Two divergences: each restore goes back to the safe copy, but the random generators go
    on (no replay of the batches that diverged) and the second cut lands on the first."""
    db = client.open_database(db_path)
    row = db.insert_run(name="diverging", task="script", status="running", hparams={"lr": 0.1})
    run = Run(db, row.id, {"lr": 0.1})
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    run.watch(model, optimizer)
    settings = {"enabled": True, "plateau": {"enabled": False}}  # divergence alone acts
    run.buffer.receive_command(1, "autopilot", merge(DEFAULTS, settings))
    draws, used = [], []
    noise = random.Random(1)
    for step in run.steps(600):
        draws.append(torch.rand(1).item())  # the loop's own randomness, from torch's generator
        used.append(optimizer.param_groups[0]["lr"])
        bad = 200 <= step < 260 or 400 <= step < 460  # two stretches of real divergence
        run.log(step, loss=50.0 if bad else 1.0 + 0.1 * noise.random())
    run.finish()
    restores = events(run, "restore")
    assert len(restores) == 2
    after = [draws[r.step] for r in restores]
    assert all(draw not in draws[: r.step] for draw, r in zip(after, restores, strict=True))
    cuts = [e for e in events(run, "hparams") if e.payload.get("rule") == "divergence"]
    assert [c.payload["changes"]["lr"][1] for c in cuts] == pytest.approx([0.05, 0.025])
    assert used[-1] == pytest.approx(0.025)


@pytest.mark.parametrize(
    "body",
    [
        {"plateau": {"factor": 1e-6}},
        {"plateau": {"max_times": 1000}},
        {"plateau": {"patience": 1}},
        {"divergence": {"factor": 0.001}},
        {"divergence": {"window": 0}},
    ],
)
def test_settings_that_would_take_lr_to_nothing_are_refused(api, body):
    run_id = api.start("spiral", epochs=1)["id"]
    response = api.patch(f"/api/runs/{run_id}/autopilot", json={"enabled": True, **body})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_argument"


def test_undo_with_nothing_to_undo_is_a_409(api):
    run_id = api.start("spiral", epochs=1)["id"]
    response = api.patch(f"/api/runs/{run_id}/autopilot", json={"undo": True})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "nothing_to_undo"


def test_an_undo_after_an_action_is_taken_once(api, app):
    run_id = api.start("spiral", epochs=1)["id"]
    db = app.extensions["lernkurve"].db
    with db.Session() as session:
        payload = {"changes": {"lr": [0.1, 0.05]}, "by": "autopilot", "rule": "plateau"}
        session.add(Event(run_id=run_id, step=5, wall_time=0.0, kind="hparams", payload=payload))
        session.commit()
    first = api.patch(f"/api/runs/{run_id}/autopilot", json={"undo": True})
    second = api.patch(f"/api/runs/{run_id}/autopilot", json={"undo": True})
    assert (first.status_code, second.status_code) == (200, 409)
    assert math.isfinite(first.get_json()["autopilot"]["plateau"]["factor"])
