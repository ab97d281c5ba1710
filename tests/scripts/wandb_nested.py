"""An epoch/batch loop written for Weights & Biases: nested dicts, ``commit=False`` and
explicit steps. Only the import line is Lernkurve's.

usage: wandb_nested.py EPOCHS BATCHES --record PATH
Prints "run <id>" first; records each epoch's validation values (one JSON line each).
"""

import argparse
import json

import torch

import lernkurve as wandb

parser = argparse.ArgumentParser()
parser.add_argument("epochs", type=int)
parser.add_argument("batches", type=int)
parser.add_argument("--record", required=True)
args = parser.parse_args()

config = {"model": {"hidden": 8, "layers": 2}, "optim": {"lr": 0.05}, "epochs": args.epochs}
run = wandb.init(
    project="wandb-compat",
    group="nested",
    job_type="train",
    tags=["nested", "commit-false"],
    notes="epochs of batches",
    config=config,
)
print(f"run {run.id}", flush=True)

torch.manual_seed(0)
hidden = wandb.config.model["hidden"]
model = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=wandb.config.optim["lr"])
x, y = torch.randn(256, 4), torch.randn(256, 1)
record = open(args.record, "a")  # noqa: SIM115 - open for the whole loop

for epoch in range(args.epochs):
    for batch in range(args.batches):
        rows = slice(batch * 16, batch * 16 + 16)
        loss = torch.nn.functional.mse_loss(model(x[rows]), y[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        wandb.log({"train": {"loss": loss.detach()}}, commit=False)  # a tensor, not .item()
        wandb.log({"train": {"batch": batch}, "epoch": epoch})
    with torch.no_grad():
        val = torch.nn.functional.mse_loss(model(x[200:]), y[200:]).item()
    wandb.log({"val": {"loss": val, "sizes": {"n": 56}}}, commit=False)  # joins the next step
    record.write(json.dumps({"epoch": epoch, "step": wandb.run.step, "val": val}) + "\n")
    record.flush()

wandb.log({"late": {"value": 1.0}}, step=0)  # lower than the current step: dropped
final_step = wandb.run.step + 5
wandb.log({"test": {"loss": 0.5}}, step=final_step)  # waits for its step's commit
wandb.log({"test": {"acc": 0.75}}, step=final_step)  # same step: merged
wandb.finish()
print("ended", flush=True)
