"""A training script written for Weights & Biases with its richer calls: ``wandb.watch``,
``wandb.Image``, ``wandb.Table``, ``wandb.Histogram``, the summary, ``define_metric``,
``alert`` and an artifact. Only the import line is Lernkurve's.

usage: wandb_media.py STEPS DELAY --record PATH
Prints "run <id>" first. The lr is the config's times a hand-written cosine, set each step;
a step post-hook records the wandb step, the schedule's factor and the lr the optimizer used.
"""

import argparse
import json
import math
import time

import numpy as np
import torch

import lernkurve as wandb

parser = argparse.ArgumentParser()
parser.add_argument("steps", type=int)
parser.add_argument("delay", type=float)
parser.add_argument("--record", required=True)
args = parser.parse_args()

wandb.init(project="wandb-compat", config={"lr": 0.1, "weight_decay": 0.01, "image_every": 10})
print(f"run {wandb.run.id}", flush=True)
wandb.define_metric("val_loss", summary="min")
wandb.define_metric("accuracy", summary="max")

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
wandb.watch(model, log="all", log_freq=10)
optimizer = torch.optim.AdamW(
    model.parameters(), lr=wandb.config.lr, weight_decay=wandb.config.weight_decay
)
x, y = torch.randn(400, 2), torch.randint(0, 2, (400,))


def cosine(step: int) -> float:
    return 0.5 * (1 + math.cos(math.pi * step / args.steps))


record = open(args.record, "a")  # noqa: SIM115 - open for the whole loop
schedule = 1.0


def note(opt, *_):
    line = {"step": wandb.run.step, "factor": schedule, "lr": opt.param_groups[0]["lr"]}
    record.write(json.dumps(line) + "\n")
    record.flush()


optimizer.register_step_post_hook(note)
best = 0.0
for step in range(args.steps):
    schedule = cosine(step)
    for group in optimizer.param_groups:
        group["lr"] = wandb.config.lr * schedule
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    accuracy = (logits.argmax(1) == y).float().mean().item()
    best = max(best, accuracy)
    logs = {"loss": loss.item(), "val_loss": 1.0 + abs(step - 12) / 10, "accuracy": accuracy}
    if step % wandb.config.image_every == 0:
        grid = torch.linspace(0, 1, 12 * 16).reshape(1, 12, 16).repeat(3, 1, 1)
        grid[0] *= step / args.steps
        logs["samples"] = wandb.Image(grid, caption=f"step {step}")
        logs["weights"] = wandb.Histogram(model[0].weight.detach())
    wandb.log(logs)
    time.sleep(args.delay)

pixels = (np.arange(8 * 8 * 3) % 256).astype(np.uint8).reshape(8, 8, 3)
table = wandb.Table(columns=["id", "prediction", "label"])
for i in range(3):
    table.add_data(i, int(logits[i].argmax()), int(y[i]))
wandb.log({"predictions": table, "pixels": wandb.Image(pixels, caption="numpy")})
wandb.run.summary["best_accuracy"] = best
wandb.summary.update({"note": "done"})
wandb.alert(title="finished", text=f"best accuracy {best:.3f}", level=wandb.AlertLevel.INFO)
artifact = wandb.Artifact("model", type="model")
artifact.add_file(args.record)
wandb.log_artifact(artifact)
wandb.finish()
print("ended", flush=True)
