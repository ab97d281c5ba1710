#!/usr/bin/env python
"""Training overhead benchmark: a built-in task's steps/s with its Run against a plain loop.

    python benchmarks/bench_overhead.py                    # spiral and digits, 30-60 s
    python benchmarks/bench_overhead.py --trials 9 --spiral-epochs 200 --digits-epochs 80

Goal (issue 2): steps/s with the Run >= 0.97 x steps/s of the same loop without it.

`lernkurve` is lernkurve.tasks.trainer.Trainer under a Run (default hparams, fewer epochs), as a
built-in run trains: Run.log per step, between_steps, extra_state, the spiral's decision
boundary snapshot every 0.25 s, and the process's writer thread flushing to SQLite.
`plain` is the same model, data, optimizer, seeds, batch order, loss.item() and per-epoch
validation, without Run.log, between_steps or snapshots. Diagnostics: `lernkurve -snap`
(spiral) is the Trainer without boundary snapshots; `lernkurve -writer` keeps the writer
thread asleep during the loop, which splits the Run's cost into the loop's own share and the
writer thread's; `lernkurve +stream` also has the app (create_app) in the process, its
streamer polling the database, as when the app itself trains a built-in run. Variants run
in alternating order (ABBA...) in one process; each trial times the training loop only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RATIO_GOAL = 0.97


def hparams_for(task: str, epochs: int) -> dict:
    from lernkurve.shared.hparams import resolve
    from lernkurve.shared.taskspecs import task_schema

    return resolve(task_schema(task), {"epochs": epochs})


class Clock:
    """Wall time, this process's CPU time and this thread's CPU time, from start to stop."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu, self.thread = (
            time.perf_counter(),
            time.process_time(),
            time.thread_time(),
        )
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        self.thread = time.thread_time() - self.thread


def plain_loop(task: str, hp: dict) -> tuple[int, Clock]:
    """The Trainer's loop without Lernkurve: (steps, times of the training loop)."""
    import torch
    from torch import nn

    from lernkurve.tasks.trainer import TASK_DATA, make_optimizer, mlp

    torch.set_num_threads(1)
    torch.manual_seed(hp["seed"])
    load, inputs, classes = TASK_DATA[task]
    x, y, x_val, y_val = load(hp["seed"])
    model = mlp(inputs, hp["hidden"], classes)
    optimizer = make_optimizer(hp["optimizer"], model.parameters(), hp)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(hp["seed"] + 1)
    with Clock() as clock:
        step = _plain_epochs(hp, x, y, x_val, y_val, model, optimizer, loss_fn, gen)
    return step, clock


def _plain_epochs(hp, x, y, x_val, y_val, model, optimizer, loss_fn, gen) -> int:
    import torch

    batch_size, step = hp["batch_size"], 0
    for _ in range(hp["epochs"]):
        order = torch.randperm(len(x), generator=gen)
        pos = 0
        while pos < len(x):
            batch = order[pos : pos + batch_size]
            pos += len(batch)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            loss.item()
            step += 1
        with torch.no_grad():  # the same validation pass as Trainer._evaluate
            logits = model(x_val)
            loss_fn(logits, y_val).item()
            (logits.argmax(1) == y_val).float().mean().item()
    return step


def lernkurve_loop(
    task: str, hp: dict, db, snapshots: bool = True, writer: bool = True, app: bool = False
) -> tuple[int, Clock]:
    """Trainer under a Run, as worker.train_builtin runs it: (steps, times of the loop).

    Diagnostics: ``snapshots=False`` skips the spiral's boundary snapshots; ``writer=False``
    keeps the writer thread asleep while the loop runs (it writes everything at the end);
    ``app=True`` creates the app (create_app) in this process, so its streamer polls the
    database meanwhile, as when the app trains a built-in run (no client is connected).
    """
    from lernkurve.tasks import trainer
    from lernkurve.tasks.cli import create_builtin_row
    from lernkurve.tracking import writer as writer_module
    from lernkurve.tracking.run import Run

    row = create_builtin_row(db, task, f"bench-{task}", hp)
    run = Run(db, row.id, row.hparams, total_steps=row.total_steps)
    if not writer:
        run._writer.interval = 3600.0  # takes effect after the flush it is waiting for
        time.sleep(2 * writer_module.FLUSH_INTERVAL)
    state = None
    if app:  # a fresh app per trial: its streamer polls only while this loop runs
        from lernkurve.launch import build_app
        from lernkurve.web.app import start_app

        folder = os.environ["LERNKURVE_DATA_DIR"]
        config = {"DATABASE": db.url, "TOKEN": "t", "START_WORKER": False, "DATA_DIR": folder}
        state = start_app(build_app(config)).extensions["lernkurve"]
        state.streamer.start()  # (once only; some versions start it with the app)
    try:
        loop = trainer.Trainer(run, task)
        if not snapshots:
            loop.next_snapshot = float("inf")
        with Clock() as clock:
            loop.train()
    finally:
        run._writer.interval = writer_module.FLUSH_INTERVAL
        if state is not None:
            state.shutdown()
    run.finish()
    return run.step, clock


def best(base: list[Clock], mine: list[Clock], attr: str) -> float:
    """Best-of-N ratio: plain's fastest trial over the variant's fastest (robust to load)."""
    return min(getattr(c, attr) for c in base) / min(getattr(c, attr) for c in mine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="spiral,digits")
    parser.add_argument("--trials", type=int, default=7, help="trials of each variant")
    parser.add_argument("--spiral-epochs", type=int, default=30, help="(default hparams: 1000)")
    parser.add_argument("--digits-epochs", type=int, default=20, help="(default hparams: 200)")
    parser.add_argument(
        "--no-diagnostics",
        action="store_true",
        help="skip the variants `lernkurve -snap`, `-writer` and `+stream`",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="lernkurve-bench-") as tmp:
        os.environ["LERNKURVE_DATA_DIR"] = tmp
        os.environ.pop("LERNKURVE_DB", None)
        import torch

        from lernkurve.tracking import client

        db = client.open_database(Path(tmp) / "bench.db")
        print(
            f"Overhead benchmark; python {sys.version.split()[0]}, torch {torch.__version__}, "
            f"{os.cpu_count()} CPUs, torch threads 1, {args.trials} alternating trials"
        )
        print(
            f"   {'task':<7} {'variant':<17} {'steps':>5} {'steps/s':>7} {'best':>6}  "
            f"{'wall ratio (min..max)':<21} {'best':>5}  {'CPU ratio':>9} {'best':>5}  "
            f"{'loop thr':>8}  {'bg/loop CPU':>11}"
        )
        ok = True
        for task in [t for t in args.tasks.split(",") if t]:
            epochs = args.spiral_epochs if task == "spiral" else args.digits_epochs
            hp = hparams_for(task, epochs)
            variants = {
                "plain": lambda hp=hp, task=task: plain_loop(task, hp),
                "lernkurve": lambda hp=hp, task=task: lernkurve_loop(task, hp, db),
            }
            if task == "spiral" and not args.no_diagnostics:
                variants["lernkurve -snap"] = lambda hp=hp, task=task: lernkurve_loop(
                    task, hp, db, snapshots=False
                )
            if not args.no_diagnostics:
                variants["lernkurve -writer"] = lambda hp=hp, task=task: lernkurve_loop(
                    task, hp, db, writer=False
                )
                variants["lernkurve +stream"] = lambda hp=hp, task=task: lernkurve_loop(
                    task, hp, db, app=True
                )
            warm = hparams_for(task, 2)
            plain_loop(task, warm)
            lernkurve_loop(task, warm, db)
            clocks: dict[str, list[Clock]] = {name: [] for name in variants}
            steps: dict[str, int] = {}
            names = list(variants)
            for trial in range(args.trials):
                for name in names if trial % 2 == 0 else reversed(names):
                    steps[name], clock = variants[name]()
                    clocks[name].append(clock)
            base = clocks["plain"]
            for name in names:
                rates = [steps[name] / c.wall for c in clocks[name]]
                line = (
                    f"   {task:<7} {name:<17} {steps[name]:>5} {statistics.median(rates):>7,.0f} "
                    f"{max(rates):>6,.0f}  "
                )
                mine = clocks[name]
                pairs = list(zip(mine, base, strict=True))
                wall = [b.wall / c.wall for c, b in pairs]
                cpu = [b.cpu / c.cpu for c, b in pairs]
                loop = [b.thread / c.thread for c, b in pairs]
                if name == "plain":
                    line += " " * 58
                else:
                    line += (
                        f"{statistics.median(wall):>5.3f} ({min(wall):.2f}..{max(wall):.2f})"
                        f"{best(base, mine, 'wall'):>7.3f}  {statistics.median(cpu):>9.3f} "
                        f"{best(base, mine, 'cpu'):>5.3f}  {statistics.median(loop):>8.3f}"
                    )
                background = statistics.median((c.cpu - c.thread) / c.thread for c in mine)
                line += f"  {background:>11.1%}"
                if name == "lernkurve":
                    met = statistics.median(wall) >= RATIO_GOAL
                    ok = ok and met
                    line += f"  goal >= {RATIO_GOAL}: {'MET' if met else 'MISSED'}"
                print(line)
        notes = [
            "ratio = plain's time / the variant's time for the same steps: per trial pair, "
            "median (min..max);",
            "best = the fastest trial of each. wall ratio = steps/s ratio (the goal). CPU = the "
            "process's CPU",
            "time (loop + writer thread); loop thr = the training thread's own CPU time; "
            "bg/loop CPU = CPU",
            "time of the other threads (writer, streamer) / the training thread's.",
        ]
        if not args.no_diagnostics:
            notes += [
                "-snap: no boundary snapshots; -writer: the writer thread idle during the loop;",
                "+stream: the app in this process too, its streamer polling the database (as "
                "when the app",
                "trains a built-in run).",
            ]
        notes.append(f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.")
        print("\n".join("   " + line for line in notes))
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
