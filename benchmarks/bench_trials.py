#!/usr/bin/env python
"""Cost of trials in place: an lr test and a 4-variant race against the same plain steps.

    python benchmarks/bench_trials.py                  # MLP 784-1024-1024-10, Adam, 2-4 min
    python benchmarks/bench_trials.py --hidden 256 --steps 100 --repeats 3

Goal (issue 14): wall time of an lr test of N steps and of a race of 4 variants × K steps
≤ 1.1 × the wall time of the same number of plain steps of the same loop, plus the cost of
the state copies (each copy and restore is measured on its own and printed).

The loop is a user's script's: `for step in run.steps(): forward, backward, step, log`. The
trial is asked for through its command, as the app sends it (the child run rows exist, as
the API makes them); timing runs from the boundary where the trial starts to the boundary
where the run is back on its own steps.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 1.1


def build(hidden: int):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(4096, 784), torch.randint(0, 10, (4096,))
    return model, optimizer, x, y


def train_step(model, optimizer, x, y, step: int, batch: int = 128) -> float:
    import torch

    start = (step * batch) % (len(x) - batch)
    loss = torch.nn.functional.cross_entropy(
        model(x[start : start + batch]), y[start : start + batch]
    )
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def timed_trial(db, hidden: int, command: str, payload: dict, children: int) -> dict:
    """Steps of the loop from the trial's start to its end, timed; plus the plain steps."""
    from lernkurve.run import Run

    model, optimizer, x, y = build(hidden)
    row = db.insert_run(name="bench", task="script", status="running", hparams={"lr": 1e-3})
    run = Run(db, row.id, {"lr": 1e-3})
    run.watch(model, optimizer)
    ids = [
        db.insert_run(name="child", task=command, status="queued", hparams={}, parent_id=row.id).id
        for _ in range(children)
    ]
    ids_key = {"lr_test": {"run_id": ids[0]}, "race": {"run_ids": ids}}[command]
    steps_run, started, ended = 0, None, None
    for step in run.steps(100_000):
        if step == 20 and started is None:
            run.receive_command(-1, command, {**payload, **ids_key})
        if run.trial is not None and started is None:
            started = time.perf_counter()
        if started is not None and run.trial is None and ended is None:
            ended = time.perf_counter()
            break
        if started is not None:
            steps_run += 1
        loss = train_step(model, optimizer, x, y, step)
        run.log(step, loss=loss)
    run.finish()
    return {"seconds": ended - started, "steps": steps_run}


def timed_plain(hidden: int, steps: int) -> float:
    model, optimizer, x, y = build(hidden)
    for step in range(5):
        train_step(model, optimizer, x, y, step)
    start = time.perf_counter()
    for step in range(steps):
        train_step(model, optimizer, x, y, step)
    return time.perf_counter() - start


def timed_copy(hidden: int) -> tuple[float, float]:
    """Seconds to copy the training state and to restore it (Adam: weights × 3)."""
    from lernkurve.snapshot import TrainingState

    class Holder:  # what TrainingState reads of a run
        schedulers, steering = [], None

    model, optimizer, x, y = build(hidden)
    train_step(model, optimizer, x, y, 0)
    holder = Holder()
    holder.model, holder.optimizer, holder.hparams = model, optimizer, {}
    start = time.perf_counter()
    state = TrainingState(holder)
    copied = time.perf_counter() - start
    start = time.perf_counter()
    state.restore()
    return copied, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=100, help="lr test steps")
    parser.add_argument("--race-steps", type=int, default=25, help="steps per race variant")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    from lernkurve.training import open_database

    torch.set_num_threads(1)  # one core per training process, as on a shared machine
    folder = Path(tempfile.mkdtemp(prefix="lernkurve-bench-trials-"))
    db = open_database(folder / "bench.db")
    params = sum(p.numel() for p in build(args.hidden)[0].parameters())
    copy, restore = timed_copy(args.hidden)
    print(
        f"model: {params / 1e6:.2f} M parameters (Adam); state copy {copy * 1000:.1f} ms, "
        f"restore {restore * 1000:.1f} ms"
    )
    lr_payload = {"min_lr": 1e-6, "max_lr": 1.0, "steps": args.steps}
    race_payload = {
        "variants": [{"lr": v} for v in (1e-4, 3e-4, 1e-3, 3e-3)],
        "steps": args.race_steps,
        "mode": "min",
    }
    for name, command, payload, children, copies in (
        ("lr test", "lr_test", lr_payload, 1, 2),
        ("race ×4", "race", race_payload, 4, 4 + 4 + 1),
    ):
        ratios = []
        for _ in range(args.repeats):
            trial = timed_trial(db, args.hidden, command, payload, children)
            plain = timed_plain(args.hidden, trial["steps"])
            budget = GOAL * plain + copies * max(copy, restore)
            ratios.append(
                (trial["seconds"] / plain, trial["seconds"], plain, budget, trial["steps"])
            )
        ratio, seconds, plain, budget, steps = sorted(ratios)[len(ratios) // 2]
        verdict = "met" if seconds <= budget else "MISSED"
        print(
            f"{name}: {steps} steps in {seconds:.3f} s, plain {plain:.3f} s, ratio {ratio:.3f} "
            f"(median of {args.repeats}); budget {budget:.3f} s "
            f"(1.1 × plain + {copies} copies): {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
