"""A user's script with an LR schedule and two param groups (decay / no-decay), for the tests.

usage: scheduled.py STEPS DELAY --record PATH [--schedule cosine|onecycle|exponential]
                    [--resume RUN_ID]
                    [--checkpoint-every N] [--plain]
Prints "run <id>" first. Records, in a step pre-hook of its own registered after watch(), what
the optimizer really uses at every optimizer.step(): one JSON line per step with each group's
lr and weight decay and the schedule's own value for the first group.
"""

import argparse
import json
import math
import time

import torch

from lernkurve.tracking import client

parser = argparse.ArgumentParser()
parser.add_argument("steps", type=int)
parser.add_argument("delay", type=float)
parser.add_argument("--record", required=True)
parser.add_argument("--schedule", choices=["cosine", "onecycle", "exponential"], default="cosine")
parser.add_argument("--resume", type=int)
parser.add_argument("--checkpoint-every", type=int)
parser.add_argument("--plain", action="store_true", help="no `with`: finish() by hand")
args = parser.parse_args()

MAX_LR, MIN_LR, NO_DECAY_LR_SCALE = 0.1, 0.01, 0.5


def cosine(it: int) -> float:
    """The hand-written schedule, as popular GPT training scripts write it."""
    return MIN_LR + 0.5 * (1 + math.cos(math.pi * min(it, 500) / 500)) * (MAX_LR - MIN_LR)


torch.manual_seed(1)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
optimizer = torch.optim.AdamW(
    [
        {"params": decay, "weight_decay": 0.1, "lr_scale": 1.0},
        {
            "params": no_decay,
            "weight_decay": 0.0,
            "lr_scale": NO_DECAY_LR_SCALE,
            "lr": MAX_LR * NO_DECAY_LR_SCALE,
        },
    ],
    lr=MAX_LR,
)
scheduler = None
if args.schedule == "onecycle":
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[MAX_LR, MAX_LR * NO_DECAY_LR_SCALE],
        total_steps=args.steps + 1,
        cycle_momentum=False,
    )
elif args.schedule == "exponential":  # chainable: computes the next lr from the current one
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.995)
x, y = torch.randn(256, 4), torch.randint(0, 2, (256,))
config = {"lr": MAX_LR, "weight_decay": 0.1, "batch_size": 32}
run = client.init(
    name="scheduled",
    config=config,
    live=["lr", "weight_decay"],
    resume=args.resume,
    checkpoint_every=args.checkpoint_every,
)
print(f"run {run.id}", flush=True)
run.watch(model, optimizer, scheduler=scheduler)
record = open(args.record, "a", buffering=1)  # noqa: SIM115 - open for the whole run
schedule_now = {"lr": MAX_LR}


def used(opt, _args, _kwargs):
    groups = opt.param_groups
    line = {
        "step": run.step,
        "schedule": schedule_now["lr"],
        "lrs": [g["lr"] for g in groups],
        "wds": [g["weight_decay"] for g in groups],
    }
    record.write(json.dumps(line) + "\n")


optimizer.register_step_pre_hook(used)


def train() -> None:
    for step in run.steps(args.steps):
        if scheduler is None:
            schedule_now["lr"] = cosine(step)
            for group in optimizer.param_groups:
                group["lr"] = cosine(step) * group["lr_scale"]
        else:
            schedule_now["lr"] = scheduler.get_last_lr()[0]
        batch = torch.randint(0, 256, (run.config["batch_size"],))
        loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        run.log(step, loss=loss)  # a tensor that requires grad: read at log time
        time.sleep(args.delay)


if args.plain:
    train()
    run.finish()
else:
    with run:
        train()
print(f"ended {run.status}", flush=True)
