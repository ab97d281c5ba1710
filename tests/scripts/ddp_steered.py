"""A DDP script for the distributed tests, run by torchrun (gloo, CPU), steered by the app.

usage: torchrun --standalone --nproc_per_node=2 ddp_steered.py OUT STEPS DELAY [--resume ID]
                                                              [--decay RATE]
Rank 0 prints "run <id>". Each rank records, in its own optimizer step pre-hook, every param
group's lr and weight decay with the step (OUT/rank<r>.jsonl), and at the end writes a hash of
its parameters (OUT/hash<r>); after watch() it writes the hash it starts from (OUT/start<r>).
With --decay the script owns an LR schedule, written by hand into every param group before
each step (lr = 0.1 × RATE**step, as many training scripts do); each record then also holds
the schedule's value.
The process group's timeout is 5 s: a pause must outlast it.
"""

import argparse
import hashlib
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import lernkurve

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("steps", type=int)
parser.add_argument("delay", type=float)
parser.add_argument("--resume", type=int)
parser.add_argument("--decay", type=float)
args = parser.parse_args()

dist.init_process_group("gloo", timeout=timedelta(seconds=5))
rank = dist.get_rank()
out = Path(args.out)
(out / f"pid{rank}").write_text(str(os.getpid()))  # the test ends a rank torchrun lost
torch.manual_seed(0)
net = torch.nn.Linear(8, 4)
model = DistributedDataParallel(net)
optimizer = torch.optim.SGD(
    [{"params": [net.weight]}, {"params": [net.bias], "weight_decay": 0.0}],
    lr=0.1,
    momentum=0.9,
    weight_decay=1e-4,
)


def digest() -> str:
    return hashlib.sha256(
        b"".join(p.detach().numpy().tobytes() for p in net.parameters())
    ).hexdigest()


config = {"lr": 0.1, "weight_decay": 1e-4}
with lernkurve.init(
    name="ddp", config=config, live=["lr", "weight_decay"], resume=args.resume
) as run:
    if rank == 0:
        print(f"run {run.id}", flush=True)
    run.watch(model, optimizer)
    (out / f"start{rank}").write_text(digest())
    record = open(out / f"rank{rank}.jsonl", "a")  # noqa: SIM115 - open for the whole loop

    schedule = None

    def note(opt, *_):  # registered after watch(): sees what this step really uses
        groups = [[g["lr"], g["weight_decay"]] for g in opt.param_groups]
        line = {"step": run.step, "groups": groups}
        if schedule is not None:
            line["schedule"] = schedule
        record.write(json.dumps(line) + "\n")
        record.flush()

    optimizer.register_step_pre_hook(note)
    for step in run.steps(args.steps):
        if args.decay is not None:
            schedule = 0.1 * args.decay**step
            for group in optimizer.param_groups:
                group["lr"] = schedule
        data = torch.Generator().manual_seed(step * 7 + rank)  # each rank its own batch
        x, y = torch.randn(16, 8, generator=data), torch.randn(16, 4, generator=data)
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.log(step, loss=loss)
        run.log(step, all_ranks=True, shard_loss=loss)
        run.log(step, all_ranks=True, reduce="mean", mean_loss=loss)
        time.sleep(args.delay)
(out / f"hash{rank}").write_text(digest())
print(f"ended {run.status}", flush=True)
dist.destroy_process_group()
