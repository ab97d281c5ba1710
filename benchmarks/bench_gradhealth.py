#!/usr/bin/env python
"""Grad-health benchmark: the added per-step cost of ``run.watch(..., log_grads=N)``.

    python benchmarks/bench_gradhealth.py [--steps 3000] [--trials 5] [--every 10]

Goal (issue 13): at most 3 % more time per step at N = 10 on the built-in spiral and digits
tasks (their models and data, batch 32, SGD). Each trial times the same loop under a watched
Run with and without log_grads, in alternating order; the figure is the median ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

GOAL = 1.03


def loop_seconds(task: str, steps: int, every: int | None, db: Path) -> float:
    from lernkurve.tasks.trainer import TASK_DATA, mlp
    from lernkurve.tracking import client

    load, inputs, classes = TASK_DATA[task]
    x, y, _, _ = load(0)
    torch.manual_seed(0)
    model = mlp(inputs, [64, 64], classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    run = client.init(config={}, db=db, system_metrics=False)
    run.watch(model, optimizer, log_grads=every)
    loss_fn = torch.nn.CrossEntropyLoss()
    started = time.perf_counter()
    for step in run.steps(steps):
        batch = torch.randint(0, len(x), (32,))
        loss = loss_fn(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.log(step, loss=loss)
    elapsed = time.perf_counter() - started
    run.finish()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--strict", action="store_true", help="exit 1 on a missed goal")
    args = parser.parse_args()
    torch.set_num_threads(1)
    missed = False
    print(f"Grad-health benchmark; torch {torch.__version__}, {args.steps} steps a trial")
    print(f"{'task':8} {'plain ms/step':>14} {'log_grads ms/step':>18} {'ratio':>7}  goal")
    with tempfile.TemporaryDirectory() as tmp:
        for task in ("spiral", "digits"):
            ratios, plain, watched = [], [], []
            for trial in range(args.trials):
                db = Path(tmp) / f"{task}-{trial}.db"
                order = (None, args.every) if trial % 2 == 0 else (args.every, None)
                timed = {every: loop_seconds(task, args.steps, every, db) for every in order}
                plain.append(timed[None])
                watched.append(timed[args.every])
                ratios.append(timed[args.every] / timed[None])
            ratio = statistics.median(ratios)
            met = ratio <= GOAL
            missed |= not met
            print(
                f"{task:8} {statistics.median(plain) / args.steps * 1e3:14.3f} "
                f"{statistics.median(watched) / args.steps * 1e3:18.3f} {ratio:7.3f}  "
                f"<= {GOAL:.2f}: {'met' if met else 'missed'}"
            )
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
