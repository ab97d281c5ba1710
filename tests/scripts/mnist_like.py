"""Shaped like pytorch/examples' mnist/main.py, for the tests: argparse with `config=vars(args)`
(None, flags), Adadelta with a per-epoch StepLR, an epoch + DataLoader loop that keeps its
position in `run.extra_state` and skips to it on a resume. Random 8x8 "digits".

usage: mnist_like.py --record PATH [--epochs N] [--delay S] [--resume RUN_ID]
                     [--checkpoint-every N]
Prints "run <id>" first. Records, in a step pre-hook registered after watch(), one JSON line
per optimizer step: the step, the epoch, the batch index, the loss, the lr used and the
schedule's value.
"""

import argparse
import json
import time

import torch
from torch import nn
from torch.optim.lr_scheduler import StepLR

import lernkurve

parser = argparse.ArgumentParser(description="MNIST-like")
parser.add_argument("--record", required=True)
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--lr", type=float, default=1.0)
parser.add_argument("--gamma", type=float, default=0.7)
parser.add_argument("--no-accel", action="store_true")
parser.add_argument("--dry-run", action="store_true")
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--save-model", action="store_true")
parser.add_argument("--delay", type=float, default=0.0)
parser.add_argument("--resume", type=int, default=None)
parser.add_argument("--checkpoint-every", type=int, default=None)
args = parser.parse_args()

torch.manual_seed(args.seed)
images = torch.randn(480, 1, 8, 8)
labels = torch.randint(0, 10, (480,))
dataset = torch.utils.data.TensorDataset(images, labels)
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
optimizer = torch.optim.Adadelta(model.parameters(), lr=args.lr)
scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)

run = lernkurve.init(
    config=vars(args),
    live=["lr"],
    resume=args.resume,
    checkpoint_every=args.checkpoint_every,
)
print(f"run {run.id}", flush=True)
run.watch(model, optimizer, scheduler=scheduler)
record = open(args.record, "a", buffering=1)  # noqa: SIM115 - open for the whole run
position = {"epoch": 1, "batch": 0}


def used(opt, _args, _kwargs):
    line = {
        "step": run.step,
        **position,
        "lr": opt.param_groups[0]["lr"],
        "schedule": scheduler.get_last_lr()[0],
    }
    record.write(json.dumps(line) + "\n")


optimizer.register_step_pre_hook(used)
first_epoch = run.extra_state.get("epoch", 1)
skip = run.extra_state.get("batch", 0)
step = run.step
stopped = False
with run:
    for epoch in range(first_epoch, args.epochs + 1):
        order = torch.Generator().manual_seed(args.seed + epoch)  # the same order after a resume
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=args.batch_size, shuffle=True, generator=order
        )
        for batch_idx, (data, target) in enumerate(loader):
            if epoch == first_epoch and batch_idx < skip:
                continue
            if not run.between_steps(step):
                stopped = True
                break
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(data), target)
            loss.backward()
            position = {"epoch": epoch, "batch": batch_idx, "loss": loss.item()}
            optimizer.step()
            run.extra_state = {"epoch": epoch, "batch": batch_idx + 1}
            run.log({"train/loss": loss.item(), "epoch": epoch}, step=step)
            step += 1
            time.sleep(args.delay)
        if stopped:
            break
        scheduler.step()
        run.extra_state = {"epoch": epoch + 1, "batch": 0}
print(f"ended {run.status}", flush=True)
