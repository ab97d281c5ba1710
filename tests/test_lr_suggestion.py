"""What an lr test's curve says: a clear minimum strictly inside the range tried, or why there
is none; and why a test stopped early. Recorded curves, plus one test in a real loop."""

from __future__ import annotations

import math
import random

import pytest
import torch
from sqlalchemy import select

from lernkurve.store.models import Event
from lernkurve.tracking import client
from lernkurve.tracking.lrcurve import stop_reason, suggest_lr
from lernkurve.tracking.run import Run


def lrs_from(low: float, high: float, count: int) -> list[float]:
    return [low * (high / low) ** (i / (count - 1)) for i in range(count)]


LRS = lrs_from(1e-6, 1.0, 100)


def converged(seed: int) -> list[float]:
    """A run at its floor (loss about 1e-4, each batch off by up to a few times) that an lr
    above 1e-3 starts to hurt."""
    noise = random.Random(seed)
    return [1e-4 * (0.5 + noise.expovariate(2.0)) * (1 + (lr / 1e-3) ** 2) for lr in LRS]


def valley(lr: float) -> float:
    """Falls from 2.3 to 0.3 around lr 3e-4, explodes past 0.1."""
    return 0.3 + 2.0 / (1 + math.exp(2 * (math.log10(lr) + 3.5))) + 50 * (lr / 0.3) ** 2


def noisy_valley(seed: int) -> list[float]:
    noise = random.Random(seed)
    return [valley(lr) * (1 + 0.1 * noise.gauss(0, 1)) for lr in LRS]


@pytest.mark.parametrize("seed", range(4))
def test_a_converged_run_gets_no_number_but_how_far_the_loss_stays_flat(seed):
    said = suggest_lr(LRS, converged(seed))
    assert said.lr is None and said.verdict == "flat"
    assert 1e-4 < said.flat_to < 0.1  # where it starts to hurt, roughly
    assert said.payload()["suggested_lr"] is None


def test_a_plateaus_batch_noise_never_reads_as_a_valley_or_a_rise():
    # A converged run's losses (0.1, each batch off by 0.04) until a high lr hurts: the level
    # the curve begins at is a median of a few noisy batches, and its own error is part of any
    # fall (counting only the smoothed curve's, 18 of 500 were valleys and 10 rising).
    lrs = lrs_from(1e-5, 10.0, 80)
    for seed in range(500):
        noise = random.Random(seed)
        losses = [0.1 * (1 + (lr / 0.3) ** 2) + 0.04 * noise.gauss(0, 1) for lr in lrs]
        said = suggest_lr(lrs, losses)
        assert said.verdict == "flat" and 0.01 < said.flat_to < 1.0, (seed, said)


def test_a_loss_that_rises_from_the_lowest_lr_on_gets_no_number():
    losses = [1.0 + 0.1 * i for i in range(len(LRS))]
    said = suggest_lr(LRS, losses)
    assert (said.verdict, said.lr) == ("rising", None)


def test_falling_then_exploding_suggests_a_point_strictly_inside_the_fall():
    losses = [valley(lr) for lr in LRS[:90]] + [math.inf]
    said = suggest_lr(LRS[:91], losses)
    assert said.verdict == "valley"
    assert LRS[0] < said.lr < LRS[89]
    assert 1e-5 < said.lr < 3e-3  # where the loss falls fast, well below the explosion


# Recorded: tests/scripts/trial.py (Adam, lr 0.01) at step 20, an lr test from 1e-5 to 10 in 80
# steps. Each batch's loss is off by about 0.06; the smoothed loss falls from 0.68 to 0.53.
RECORDED = [
    0.676, 0.71, 0.647, 0.695, 0.721, 0.666, 0.711, 0.555, 0.64, 0.654, 0.619, 0.609, 0.663,
    0.669, 0.621, 0.677, 0.631, 0.633, 0.676, 0.644, 0.564, 0.739, 0.666, 0.724, 0.734, 0.652,
    0.58, 0.601, 0.642, 0.626, 0.626, 0.611, 0.627, 0.64, 0.629, 0.585, 0.686, 0.662, 0.672,
    0.533, 0.524, 0.614, 0.65, 0.646, 0.606, 0.615, 0.515, 0.474, 0.484, 0.524, 0.475, 0.376,
    0.469, 0.427, 0.631, 0.551, 0.624, 0.469, 0.487, 0.392, 0.56, 0.478, 0.715, 0.527, 0.436,
    0.432, 2.026, 0.615, 0.103, 1.809, 0.467, 1.059, 1.672, 1.163, 2.079, 3.397, 3.23, 2.258,
    3.084, 7.726,
]  # fmt: skip


def test_a_recorded_noisy_valley_gets_a_number_below_the_blow_up():
    lrs = lrs_from(1e-5, 10.0, len(RECORDED))
    said = suggest_lr(lrs, RECORDED)
    assert said.verdict == "valley"
    assert 1e-3 < said.lr < 0.5  # where it falls, below where it blows up (about 1)


def test_a_fall_from_the_first_lr_never_suggests_the_lowest_lr():
    lrs = lrs_from(1e-3, 1.0, 40)
    losses = [0.3 + 2 * math.exp(-i / 3) + (0.2 * (i - 30) if i > 30 else 0) for i in range(40)]
    said = suggest_lr(lrs, losses)
    assert said.verdict == "valley" and lrs[0] < said.lr < lrs[-1]


def test_no_curve_ever_gets_a_bound_of_its_range():
    shapes = random.Random(7)
    for _ in range(400):
        count = shapes.randint(3, 60)
        losses = [shapes.choice([0.1, 1.0, 10.0]) * shapes.random() for _ in range(count)]
        lrs = lrs_from(1e-6, 1.0, count)
        lr = suggest_lr(lrs, losses).lr
        assert lr is None or lrs[0] < lr < lrs[-1], (losses, lr)


def test_a_noisy_valley_is_suggested_about_the_same_whatever_the_noise():
    suggested = [suggest_lr(LRS, noisy_valley(seed)).lr for seed in range(6)]
    assert all(LRS[0] < lr < LRS[-1] for lr in suggested)
    assert max(suggested) / min(suggested) < 3  # less than half a decade apart


def test_too_few_values_or_none_say_so():
    assert suggest_lr(LRS[:3], [1.0, 0.5, 0.2]).verdict == "too_short"
    assert suggest_lr(LRS[:10], [None] * 10).verdict == "no_values"
    assert suggest_lr(LRS[:3], [math.nan, 1.0, 1.0]).verdict == "no_values"


def test_the_reason_to_stop_early():
    assert stop_reason([1.0, 0.9, math.nan], 100) == "not_finite"
    exploding = [1.0] * 10 + [1.0 * 3**i for i in range(1, 6)]
    assert stop_reason(exploding[:10], 100) is None
    assert stop_reason(exploding, 100) == "diverged"
    assert stop_reason(exploding, 1000) is None  # never in its first tenth


def test_one_lucky_first_batch_of_a_converged_run_does_not_stop_it():
    losses = [1e-5] + [1e-4 * (1 + 0.3 * ((i * 7) % 5)) for i in range(1, 30)]
    assert stop_reason(losses, 100) is None


def test_an_lr_test_that_stops_early_says_why_and_where(db_path):
    torch.manual_seed(0)
    db = client.open_database(db_path)
    row = db.insert_run(name="explodes", task="script", status="running", hparams={"lr": 0.01})
    child = db.insert_run(name="t", task="lr_test", status="queued", hparams={}, parent_id=row.id)
    run = Run(db, row.id, {"lr": 0.01})
    model = torch.nn.Linear(8, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    run.watch(model, optimizer)
    x, y = torch.randn(64, 8), torch.randn(64, 1)
    payload = {"min_lr": 1e-4, "max_lr": 1e4, "steps": 100, "run_id": child.id}
    for step in run.steps(300):
        if step == 5:
            run.buffer.receive_command(1, "lr_test", payload)
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.log(step, loss=loss.item())
    run.finish()
    with db.Session() as session:
        query = select(Event).where(Event.run_id == row.id, Event.kind == "lr_test")
        result = session.scalars(query).one().payload
    assert result["stopped_because"] in ("diverged", "not_finite")
    assert result["steps"] < result["planned_steps"] == 100
    assert (result["min_lr"], result["max_lr"], result["diverge_ratio"]) == (1e-4, 1e4, 4.0)
    assert result["verdict"] in ("valley", "flat", "rising")
    lrs = result["lrs"]
    assert result["suggested_lr"] is None or lrs[0] < result["suggested_lr"] < lrs[-1]
