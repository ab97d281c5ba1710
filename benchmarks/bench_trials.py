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
    from lernkurve.tracking.run import Run

    model, optimizer, x, y = build(hidden)
    row = db.insert_run(name="bench", task="script", status="running", hparams={"lr": 1e-3})
    run = Run(db, row.id, {"lr": 1e-3})
    run.watch(model, optimizer)
    ids = [
        db.insert_run(name="child", task=command, status="queued", hparams={}, parent_id=row.id).id
        for _ in range(children)
    ]
    ids_key = {"lr_test": {"run_id": ids[0]}, "race": {"run_ids": ids}}[command]
    steps_run, started, ended, own = 0, None, None, 0.0
    steps = run.steps(100_000)
    while True:
        clock = time.perf_counter()
        step = next(steps)  # between_steps: where a trial starts, switches and ends
        if started is not None:
            own += time.perf_counter() - clock
        if step == 20 and started is None:
            run.receive_command(-1, command, {**payload, **ids_key})
        if run.trial is not None and started is None:
            started, cpu = time.perf_counter(), time.thread_time()
        if started is not None and run.trial is None and ended is None:
            ended, cpu = time.perf_counter(), time.thread_time() - cpu
            break
        if started is not None:
            steps_run += 1
        loss = train_step(model, optimizer, x, y, step)
        clock = time.perf_counter()
        run.log(step, loss=loss)
        if started is not None:
            own += time.perf_counter() - clock
    run.finish()
    return {"seconds": ended - started, "cpu": cpu, "own": own, "steps": steps_run}


def timed_plain(hidden: int, steps: int) -> tuple[float, float]:
    """Wall and thread CPU seconds of ``steps`` plain steps of the same loop."""
    model, optimizer, x, y = build(hidden)
    for step in range(5):
        train_step(model, optimizer, x, y, step)
    start, cpu = time.perf_counter(), time.thread_time()
    for step in range(steps):
        train_step(model, optimizer, x, y, step)
    return time.perf_counter() - start, time.thread_time() - cpu


def timed_copy(hidden: int) -> tuple[float, float]:
    """Seconds to copy the training state and to restore it (Adam: weights × 3)."""
    from lernkurve.tracking.state import TrainingState

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

    from lernkurve.tracking.client import open_database

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
        trials = []
        for _ in range(args.repeats):
            trial = timed_trial(db, args.hidden, command, payload, children)
            plain, plain_cpu = timed_plain(args.hidden, trial["steps"])
            trials.append((trial["seconds"] / plain, trial, plain, plain_cpu))
        ratio, trial, plain, plain_cpu = sorted(trials, key=lambda t: t[0])[len(trials) // 2]
        budget = GOAL * plain + copies * max(copy, restore)
        verdict = "met" if trial["seconds"] <= budget else "MISSED"
        print(
            f"{name}: {trial['steps']} steps in {trial['seconds']:.3f} s, plain {plain:.3f} s: "
            f"wall ratio {ratio:.3f}, CPU ratio {trial['cpu'] / plain_cpu:.3f} (median of "
            f"{args.repeats}); Lernkurve's own time in the trial {trial['own']:.3f} s "
            f"({100 * trial['own'] / trial['seconds']:.1f} %); budget {budget:.3f} s "
            f"(1.1 × plain + {copies} copies): {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
