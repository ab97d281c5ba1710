#!/usr/bin/env python
"""Lockstep cost per step: a DDP job (torchrun, 2 ranks, gloo, CPU) with and without Lernkurve.

    python benchmarks/bench_distributed.py                 # 20 ms steps, 6 rounds of 100
    python benchmarks/bench_distributed.py --step-ms 20 --rounds 6 --block 100

One torchrun job; each rank trains a small MLP under DistributedDataParallel, each step
padded to ``--step-ms`` (a real forward, backward, allreduce and update, then a sleep up to
the step's length: the baseline is steady, what Lernkurve adds comes on top). Blocks of
``--block`` steps alternate in the same processes:
- plain: ``for step in range(...)``, no Lernkurve;
- lernkurve: ``run.between_steps(step)`` (one int64 broadcast from rank 0) and
  ``run.log(loss=...)`` from rank 0 (rank 1's call does nothing);
- all ranks: the same plus ``run.log(all_ranks=True, reduce="mean", ...)`` (a gather).
Printed: rank 0's mean step time of each, of the fastest 95 % of steps (means: the ranks meet
only every few steps; the slowest 5 %: scheduler stalls of a busy machine), the
cost against plain and the time spent inside Lernkurve's calls per step.
Goal: cost <= 2 % of the step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 0.02
MODES = ("plain", "lernkurve", "all ranks")


def worker(args: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    import lernkurve

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.Tanh(), torch.nn.Linear(256, 1))
    model = DistributedDataParallel(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(64, 64), torch.randn(64, 1)
    run = lernkurve.init(name="bench-ddp", config={"lr": 0.01}, live=["lr"])
    run.watch(model, optimizer)
    length = args.step_ms / 1000
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    inside: dict[str, list[float]] = {mode: [] for mode in MODES}
    step = 0
    for _ in range(args.rounds):
        for mode in MODES:
            for _ in range(args.block):
                started = time.perf_counter()
                if mode != "plain":
                    run.between_steps(step)
                entered = time.perf_counter()
                loss = torch.nn.functional.mse_loss(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                logged = time.perf_counter()
                if mode != "plain":
                    run.log(step, loss=loss)
                if mode == "all ranks":
                    run.log(step, all_ranks=True, reduce="mean", mean_loss=loss)
                done = time.perf_counter()
                time.sleep(max(0.0, length - (done - entered)))
                times[mode].append(time.perf_counter() - started)
                inside[mode].append((entered - started) + (done - logged))
                step += 1
    run.finish()
    if rank == 0:
        Path(args.out).write_text(json.dumps({"times": times, "inside": inside}))
    dist.destroy_process_group()


def trimmed_mean(values: list[float], keep: float = 0.95) -> float:
    """The mean of the fastest ``keep`` share: a busy machine's scheduler stalls left out,
    the steps where the ranks meet (every few steps) kept."""
    ordered = sorted(values)
    return statistics.fmean(ordered[: max(1, int(len(ordered) * keep))])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step-ms", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--block", type=int, default=100)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        env = {**os.environ, "LERNKURVE_DB": str(Path(folder) / "bench.db")}
        torchrun = Path(sys.executable).parent / "torchrun"
        command = [str(torchrun), "--standalone", "--nproc_per_node=2", __file__, "--worker"]
        command += ["--out", str(out), "--step-ms", str(args.step_ms)]
        command += ["--rounds", str(args.rounds), "--block", str(args.block)]
        subprocess.run(command, env=env, check=True, stderr=subprocess.DEVNULL)
        result = json.loads(out.read_text())
    plain = trimmed_mean(result["times"]["plain"])
    cores, load = os.cpu_count(), os.getloadavg()[0]  # scheduling delays dominate a busy machine
    print(
        f"DDP, 2 ranks (gloo, CPU), steps padded to {args.step_ms:g} ms, "
        f"{args.rounds} x {args.block} steps each, rank 0's means of the fastest 95 % "
        f"({cores} cores, load {load:.1f})"
    )
    print(f"{'job':<11} {'ms/step':>8} {'cost':>8} {'inside':>8}  goal <= {GOAL:.0%}")
    for mode in MODES:
        mean = trimmed_mean(result["times"][mode])
        inside = trimmed_mean(result["inside"][mode])
        if mode == "plain":
            print(f"{mode:<11} {mean * 1e3:8.2f}")
            continue
        cost = (mean - plain) / plain
        verdict = "met" if cost <= GOAL else "missed"
        print(f"{mode:<11} {mean * 1e3:8.2f} {cost:+8.2%} {inside * 1e3:6.3f}ms  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
