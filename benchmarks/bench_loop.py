#!/usr/bin/env python
"""A script's training loop with Lernkurve logging against the same loop without it.

    python benchmarks/bench_loop.py                      # 2,000 steps, 7 alternating pairs
    python benchmarks/bench_loop.py --steps 4000 --trials 9

An MLP (784-512-512-10, batch 128, AdamW, one torch thread) on random data; each step logs
three scalars (loss, accuracy, grad norm) that the loop already computed. Variants:

- `plain`: no logging;
- `lernkurve`: `lernkurve.init(...)`, `for step in run.steps(N)` and `run.log(step, ...)`;
- `wandb surface`: the loop as a wandb script writes it, `import lernkurve as wandb`,
  `wandb.init(project=..., config=...)`, `wandb.watch(model)` and `wandb.log({...})` a step;
- `sqlite floor`: the same three values a step appended to a list and written by
  `executemany` into one SQLite table in the loop's own thread every 50 steps (WAL, commit
  each time): what any logging to SQLite costs at least;
- `tensorboard`: `torch.utils.tensorboard.SummaryWriter.add_scalar` three times a step
  (when tensorboard is installed).

Trials alternate in order (ABCD, DCBA, ...) in one process; each times the loop only. Printed:
each variant's median seconds and the median of its per-trial ratio to `plain` (time with /
time without), and for Lernkurve's two APIs the time a step spends inside their calls in the
loop thread (steady where the wall ratios of a shared machine swing by several per cent).
Goals: lernkurve <= x1.02 (issue 23); the wandb surface <= x1.02 against lernkurve (issue 24).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.02
INSIDE: dict[str, list[float]] = {}  # variant -> seconds a step in Lernkurve's calls, per trial


def model_and_data(seed: int = 0):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU())
    model.append(nn.Linear(512, 10))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(2048, 784), torch.randint(0, 10, (2048,))
    return model, optimizer, x, y


def train_step(model, optimizer, x, y, step: int) -> tuple[float, float, float]:
    import torch

    start = (step * 128) % 2048
    xb, yb = x[start : start + 128], y[start : start + 128]
    optimizer.zero_grad(set_to_none=True)
    logits = model(xb)
    loss = torch.nn.functional.cross_entropy(logits, yb)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1e9)
    optimizer.step()
    accuracy = (logits.argmax(1) == yb).float().mean()
    return loss.item(), accuracy.item(), norm.item()


def plain(steps: int, folder: Path) -> float:
    model, optimizer, x, y = model_and_data()
    started = time.perf_counter()
    for step in range(steps):
        train_step(model, optimizer, x, y, step)
    return time.perf_counter() - started


def with_lernkurve(steps: int, folder: Path) -> float:
    import lernkurve

    model, optimizer, x, y = model_and_data()
    run = lernkurve.init(
        config={"lr": 1e-3}, db=folder / "lernkurve.db", system_metrics=False, name="bench"
    )
    run.watch(model, optimizer)
    inside = 0.0  # the loop thread's time in Lernkurve's calls (between_steps and log)
    started = time.perf_counter()
    boundaries = iter(run.steps(steps))
    while True:
        mark = time.perf_counter()
        step = next(boundaries, None)
        inside += time.perf_counter() - mark
        if step is None:
            break
        loss, accuracy, norm = train_step(model, optimizer, x, y, step)
        mark = time.perf_counter()
        run.log(step, loss=loss, accuracy=accuracy, grad_norm=norm)
        inside += time.perf_counter() - mark
    elapsed = time.perf_counter() - started
    INSIDE.setdefault("lernkurve", []).append(inside / steps)
    run.finish()
    return elapsed


def wandb_surface(steps: int, folder: Path) -> float:
    import lernkurve as wandb

    model, optimizer, x, y = model_and_data()
    wandb.init(
        project="bench", config={"lr": 1e-3}, db=folder / "lernkurve.db", system_metrics=False
    )
    wandb.watch(model, log=None)
    inside = 0.0
    started = time.perf_counter()
    for step in range(steps):
        loss, accuracy, norm = train_step(model, optimizer, x, y, step)
        mark = time.perf_counter()
        wandb.log({"loss": loss, "accuracy": accuracy, "grad_norm": norm})  # its boundary too
        inside += time.perf_counter() - mark
    elapsed = time.perf_counter() - started
    INSIDE.setdefault("wandb surface", []).append(inside / steps)
    wandb.finish()
    return elapsed


def sqlite_floor(steps: int, folder: Path) -> float:
    model, optimizer, x, y = model_and_data()
    connection = sqlite3.connect(folder / "floor.db")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE IF NOT EXISTS m (step INT, key TEXT, value REAL, t REAL)")
    rows: list[tuple] = []
    started = time.perf_counter()
    for step in range(steps):
        loss, accuracy, norm = train_step(model, optimizer, x, y, step)
        now = time.time()
        rows += [(step, "loss", loss, now), (step, "accuracy", accuracy, now)]
        rows.append((step, "grad_norm", norm, now))
        if step % 50 == 49:
            connection.executemany("INSERT INTO m VALUES (?, ?, ?, ?)", rows)
            connection.commit()
            rows.clear()
    connection.executemany("INSERT INTO m VALUES (?, ?, ?, ?)", rows)
    connection.commit()
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def tensorboard(steps: int, folder: Path) -> float:
    from torch.utils.tensorboard import SummaryWriter

    model, optimizer, x, y = model_and_data()
    writer = SummaryWriter(str(folder / "tb"))
    started = time.perf_counter()
    for step in range(steps):
        loss, accuracy, norm = train_step(model, optimizer, x, y, step)
        writer.add_scalar("loss", loss, step)
        writer.add_scalar("accuracy", accuracy, step)
        writer.add_scalar("grad_norm", norm, step)
    writer.flush()
    elapsed = time.perf_counter() - started
    writer.close()
    return elapsed


def variants() -> dict:
    found = {
        "plain": plain,
        "lernkurve": with_lernkurve,
        "wandb surface": wandb_surface,
        "sqlite floor": sqlite_floor,
    }
    try:
        import tensorboard as _  # noqa: F401 - only whether it is there
    except ImportError:
        return found
    return {**found, "tensorboard": tensorboard}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=7, help="trials of each variant")
    parser.add_argument("--variants", help="a comma-separated choice (plain is always run)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    chosen = variants()
    if args.variants:
        keep = {"plain", *(v.strip() for v in args.variants.split(","))}
        chosen = {name: run for name, run in chosen.items() if name in keep}
    names = list(chosen)
    times: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="lernkurve-bench-") as tmp:
        os.environ["LERNKURVE_DATA_DIR"] = tmp
        os.environ.pop("LERNKURVE_DB", None)
        for name in names:  # warm-up: imports, first allocations
            chosen[name](50, Path(tmp))
        for trial in range(args.trials):
            for name in names if trial % 2 == 0 else reversed(names):
                times[name].append(chosen[name](args.steps, Path(tmp)))
    print(
        f"Loop benchmark: {args.steps} steps, MLP 784-512-512-10, batch 128, 3 scalars a step, "
        f"{args.trials} alternating trials; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    base = times["plain"]
    print(f"   {'variant':<14} {'median s':>9} {'ms/step':>8}  ratio to plain (min..max)")
    for name in names:
        ratios = [mine / theirs for mine, theirs in zip(times[name], base, strict=True)]
        line = f"   {name:<14} {statistics.median(times[name]):>9.3f} "
        line += f"{1000 * statistics.median(times[name]) / args.steps:>8.3f}  "
        if name != "plain":
            line += f"x{statistics.median(ratios):.3f} ({min(ratios):.3f}..{max(ratios):.3f})"
        if name == "lernkurve":
            met = statistics.median(ratios) <= GOAL
            line += f"  goal <= x{GOAL}: {'MET' if met else 'MISSED'}"
        if name == "wandb surface" and "lernkurve" in times:
            native = statistics.median(
                [w / n for w, n in zip(times[name], times["lernkurve"], strict=True)]
            )
            line += f"; x{native:.3f} of lernkurve's: {'MET' if native <= GOAL else 'MISSED'}"
        print(line)
    for name, seconds in INSIDE.items():
        step = statistics.median(times["plain"]) / args.steps
        within = statistics.median(seconds)
        print(
            f"   {name}: {1e6 * within:.1f} us a step inside Lernkurve's calls in the loop thread "
            f"(x{1 + within / step:.4f} of a plain step)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
