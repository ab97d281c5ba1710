"""A user's training script for the tests: plain PyTorch plus client.init, run as a process.

usage: steered.py STEPS DELAY [--resume RUN_ID] [--dump PATH]
Prints "init" right before client.init, then "run <id>"; with --dump saves model and
optimizer state right after watch().
"""

import argparse
import time
from pathlib import Path

import torch

from lernkurve.tracking import client

parser = argparse.ArgumentParser()
parser.add_argument("steps", type=int)
parser.add_argument("delay", type=float)
parser.add_argument("--resume", type=int)
parser.add_argument("--dump")
args = parser.parse_args()

torch.manual_seed(1)
model = torch.nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
x, y = torch.randn(256, 4), torch.randint(0, 2, (256,))
config = {"lr": 0.1, "momentum": 0.9, "batch_size": 32}
print("init", flush=True)  # the test times from here to the run's appearance in the app
with client.init(
    name="steered", config=config, live=["lr", "momentum", "batch_size"], resume=args.resume
) as run:
    print(f"run {run.id}", flush=True)
    run.watch(model, optimizer)
    if args.dump:  # written aside, then renamed: the test never reads half a file
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": run.step}
        torch.save(state, args.dump + ".part")
        Path(args.dump + ".part").replace(args.dump)
    for step in run.steps(args.steps):
        batch = torch.randint(0, 256, (run.config["batch_size"],))
        loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.log(step, loss=loss.item(), lr=optimizer.param_groups[0]["lr"], batch=len(batch))
        time.sleep(args.delay)
print(f"ended {run.status}", flush=True)
