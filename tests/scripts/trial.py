"""A user's script for the lr test, race, autopilot and recipe tests.

usage: trial.py STEPS DELAY --record PATH [--recipe FILE] [--plateau] [--nan-at STEP]
                [--save-every N] [--resume RUN_ID] [--lr LR]
Prints "run <id>" first. For every step the loop runs it records one JSON line: the step, a
digest of the parameters and of the optimizer state before the step, the digest of the
parameters after it, and the lr the optimizer really used (read in its own step pre-hook).
``--plateau`` logs a constant loss; ``--nan-at`` logs NaN as the loss at that step; ``--lr``
sets the lr, steerable from 0 to 10 (without it: 0.01, its range inferred); ``--save-every``
calls run.save_checkpoint() in the loop body every N steps (as scripts do, whatever the app is
doing meanwhile).
"""

import argparse
import hashlib
import json
import time

import torch

from lernkurve.tracking import client

parser = argparse.ArgumentParser()
parser.add_argument("steps", type=int)
parser.add_argument("delay", type=float)
parser.add_argument("--record", required=True)
parser.add_argument("--recipe")
parser.add_argument("--plateau", action="store_true")
parser.add_argument("--nan-at", type=int)
parser.add_argument("--save-every", type=int)
parser.add_argument("--resume", type=int)
parser.add_argument("--lr", type=float)
args = parser.parse_args()


def digest(tensors) -> str:
    sha = hashlib.sha256()
    for tensor in tensors:
        sha.update(tensor.detach().contiguous().numpy().tobytes())
    return sha.hexdigest()[:16]


def optimizer_digest(optimizer) -> str:
    state = optimizer.state_dict()["state"]
    tensors = [v for i in sorted(state) for _, v in sorted(state[i].items())]
    return digest(torch.as_tensor(v) for v in tensors)


torch.set_num_threads(1)  # a tiny model: more threads only fight for the cores
torch.manual_seed(1)
model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
lr = 0.01 if args.lr is None else args.lr
optimizer = torch.optim.Adam(model.parameters(), lr=lr)
x = torch.randn(512, 4)
y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
schema = {
    "lr": {"type": "float", "min": 0.0, "max": 10.0, "default": lr, "live": True},
    "batch_size": {"type": "int", "min": 1, "max": 512, "default": 32, "live": True},
}
run = client.init(
    name="trial",
    config={"lr": lr, "batch_size": 32},
    live=["lr", "batch_size"],
    schema=None if args.lr is None else schema,
    recipe=args.recipe,
    resume=args.resume,
    system_metrics=False,
)
print(f"run {run.id}", flush=True)
run.watch(model, optimizer)
record = open(args.record, "a", buffering=1)  # noqa: SIM115 - open for the whole run
used = {}
optimizer.register_step_pre_hook(lambda opt, *_: used.update(lr=opt.param_groups[0]["lr"]))

with run:
    for step in run.steps(args.steps):
        line = {"step": step, "params": digest(model.parameters())}
        line["trial"] = run.trial is not None  # a step of an lr test's or race's, not the run's
        line["opt"] = optimizer_digest(optimizer)
        batch = torch.randint(0, 512, (run.config["batch_size"],))
        loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        line.update(lr=used["lr"], after=digest(model.parameters()))
        record.write(json.dumps(line) + "\n")
        value = 1.0 if args.plateau else loss.item()
        run.log(step, loss=float("nan") if step == args.nan_at else value)
        if args.save_every and (step + 1) % args.save_every == 0:
            run.save_checkpoint()
        time.sleep(args.delay)
print(f"ended {run.status}", flush=True)
