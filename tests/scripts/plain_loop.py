"""A user's script that loops with a plain ``for`` (no run.steps(), no between_steps): it is
watched and its points kept, but it has no step boundary where the app could run a trial.

usage: plain_loop.py STEPS DELAY --record PATH [--no-watch]
Prints "run <id>" first; records one JSON line a step.
"""

import argparse
import json
import time

import torch

import lernkurve

parser = argparse.ArgumentParser()
parser.add_argument("steps", type=int)
parser.add_argument("delay", type=float)
parser.add_argument("--record", required=True)
parser.add_argument("--no-watch", action="store_true")
args = parser.parse_args()

model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
run = lernkurve.init(name="plain", config={"lr": 0.1}, live=["lr"], system_metrics=False)
print(f"run {run.id}", flush=True)
if not args.no_watch:
    run.watch(model, optimizer)
record = open(args.record, "a", buffering=1)  # noqa: SIM115 - open for the whole run
with run:
    for step in range(args.steps):
        loss = model(torch.randn(8, 4)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.log({"loss": loss.item()}, step=step)
        record.write(json.dumps({"step": step}) + "\n")
        time.sleep(args.delay)
