"""A plain training loop written for Weights & Biases; only the import line is Lernkurve's.

usage: wandb_plain.py STEPS DELAY --record PATH
Prints "run <id>" first. Every step the loop feeds ``wandb.config.lr`` into its optimizer, as
many public scripts do; a step post-hook of its own records, for each optimizer.step(), the
wandb step and the lr the optimizer used (one JSON line each).
"""

import argparse
import json
import time

import torch

import lernkurve as wandb

parser = argparse.ArgumentParser()
parser.add_argument("steps", type=int)
parser.add_argument("delay", type=float)
parser.add_argument("--record", required=True)
args = parser.parse_args()

wandb.init(
    project="wandb-compat",
    name="plain",
    config={"lr": 0.1, "momentum": 0.9, "batch_size": 32, "optimizer": "sgd"},
)
print(f"run {wandb.run.id}", flush=True)

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
optimizer = torch.optim.SGD(
    model.parameters(), lr=wandb.config.lr, momentum=wandb.config["momentum"]
)
x, y = torch.randn(512, 4), torch.randint(0, 2, (512,))
record = open(args.record, "a")  # noqa: SIM115 - open for the whole loop


def note(opt, *_):
    line = {"step": wandb.run.step, "lr": opt.param_groups[0]["lr"]}
    record.write(json.dumps(line) + "\n")
    record.flush()


optimizer.register_step_post_hook(note)

for _ in range(args.steps):
    for group in optimizer.param_groups:
        group["lr"] = wandb.config.lr
    batch = torch.randint(0, 512, (wandb.config.batch_size,))
    loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    wandb.log({"loss": loss.item(), "lr": optimizer.param_groups[0]["lr"]})
    time.sleep(args.delay)

wandb.finish()
print("ended", flush=True)
