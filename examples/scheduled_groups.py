"""A plain-PyTorch script the way GPT training scripts are written, steered by Lernkurve.

A cosine LR schedule with warm-up written into ``param_groups`` every iteration, and two param
groups: weights with weight decay, biases and norms without. In the app, an lr change scales
the schedule from that step on (or pins it, until "Release"); a weight-decay change leaves the
no-decay group at 0. ``--resume RUN_ID`` continues from the last checkpoint (one every 200
steps), even after kill -9 and with no app running.

    python examples/scheduled_groups.py [--steps 3000] [--resume RUN_ID]
"""

import argparse
import math

import torch
from torch import nn

import lernkurve

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=3000)
parser.add_argument("--resume", type=int, help="continue this run from its last checkpoint")
args = parser.parse_args()

config = {"learning_rate": 3e-3, "min_lr": 3e-4, "warmup": 100, "weight_decay": 0.1, "batch": 64}


def cosine_lr(it: int) -> float:
    """Warm-up, then cosine decay to min_lr: the schedule the script owns."""
    if it < config["warmup"]:
        return config["learning_rate"] * (it + 1) / config["warmup"]
    progress = min(1.0, (it - config["warmup"]) / max(1, args.steps - config["warmup"]))
    span = config["learning_rate"] - config["min_lr"]
    return config["min_lr"] + 0.5 * (1 + math.cos(math.pi * progress)) * span


torch.manual_seed(0)
model = nn.Sequential(nn.Linear(1, 64), nn.LayerNorm(64), nn.GELU(), nn.Linear(64, 1))
decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
optimizer = torch.optim.AdamW(
    [
        {"params": decay, "weight_decay": config["weight_decay"]},
        {"params": no_decay, "weight_decay": 0.0},
    ],
    lr=config["learning_rate"],
)

with lernkurve.init(
    name="scheduled-groups",
    config=config,
    live=["learning_rate", "weight_decay", "batch"],
    resume=args.resume,
    checkpoint_every=200,
) as run:
    # learning_rate is this script's name for the peak lr: tie it to the optimizer's lr, so a
    # change in the app scales the whole schedule by new / old.
    run.watch(model, optimizer, map={"learning_rate": "lr"})
    for step in run.steps(args.steps):  # a resumed run starts at its checkpoint's step
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step)
        x = torch.rand(run.config["batch"], 1) * 6 - 3
        loss = nn.functional.mse_loss(model(x), torch.sin(3 * x))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        run.log(step, **{"train/loss": loss})  # a tensor: its value is read at log time
        if step % 100 == 0:
            with torch.no_grad():
                x = torch.linspace(-3, 3, 512).unsqueeze(1)
                run.log(step, **{"val/loss": nn.functional.mse_loss(model(x), torch.sin(3 * x))})
    print(f"run {run.id} ended after step {run.step}")
