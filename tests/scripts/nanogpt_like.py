"""Shaped like nanoGPT's train.py, for the tests: a config made of the script's globals, a
hand-written cosine schedule written into every param group, `run.between_steps(iter_num)`
in a `while True` loop, and `"lr": lr` logged by the script itself. A tiny MLP on random data.

usage: nanogpt_like.py --record PATH [--max_iters N] [--delay S]
Prints "run <id>" first. Records, in a step pre-hook registered after watch(), one JSON line
per iteration: the step, the lr the optimizer used, and the schedule's own value.
"""

import argparse
import json
import math
import time

import torch

import lernkurve

parser = argparse.ArgumentParser()
parser.add_argument("--record", required=True)
parser.add_argument("--max_iters", type=int, default=200)
parser.add_argument("--delay", type=float, default=0.0)
cli = parser.parse_args()

learning_rate = 6e-3
min_lr = 6e-4
warmup_iters = 10
lr_decay_iters = 200
max_iters = cli.max_iters
weight_decay = 1e-1
decay_lr = True
config_keys = [
    k for k, v in globals().items() if not k.startswith("_") and isinstance(v, (int, float, bool))
]
config = {k: globals()[k] for k in config_keys}


def get_lr(it: int) -> float:
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (learning_rate - min_lr)


torch.manual_seed(1337)
model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 8))
optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
run = lernkurve.init(config=config, live=["learning_rate"], total_steps=max_iters)
print(f"run {run.id}", flush=True)
run.watch(model, optimizer, map={"learning_rate": "lr"})
record = open(cli.record, "a", buffering=1)  # noqa: SIM115 - open for the whole run
lr = learning_rate


def used(opt, _args, _kwargs):
    line = {"step": iter_num, "lr": opt.param_groups[0]["lr"], "schedule": lr}
    record.write(json.dumps(line) + "\n")


optimizer.register_step_pre_hook(used)
x = torch.randn(64, 8)
iter_num = run.step
while True:
    lr = get_lr(iter_num) if decay_lr else learning_rate
    for param_group in optimizer.param_groups:
        param_group["lr"] = lr
    if not run.between_steps(iter_num):
        break
    loss = torch.nn.functional.mse_loss(model(x), x)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    run.log({"iter": iter_num, "loss": loss.item(), "lr": lr}, step=iter_num)
    time.sleep(cli.delay)
    iter_num += 1
    if iter_num >= max_iters:
        break
run.finish()
print(f"ended {run.status}", flush=True)
