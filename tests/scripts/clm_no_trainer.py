"""Shaped like transformers' examples/pytorch/language-modeling/run_clm_no_trainer.py, for the
tests: argparse (a SchedulerType enum, a Path, None), accelerate's prepare(), get_scheduler,
an epoch + DataLoader loop counting optimizer steps, `config=vars(args)`. A tiny GPT-2 from
a config and random tokens: no download.

usage: clm_no_trainer.py --record PATH [--max_train_steps N] [--delay S] [--resume RUN_ID]
                         [--checkpoint_every N] [--n_embd N]
Prints "run <id>" first. Records, in a step pre-hook on the real optimizer registered after
watch(), one JSON line per optimizer step: the step, the lr it used and the schedule's value.
"""

import argparse
import json
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from transformers import GPT2Config, GPT2LMHeadModel, SchedulerType, get_scheduler

import lernkurve

parser = argparse.ArgumentParser()
parser.add_argument("--record", type=Path, required=True)
parser.add_argument("--learning_rate", type=float, default=5e-3)
parser.add_argument("--weight_decay", type=float, default=0.0)
parser.add_argument("--lr_scheduler_type", type=SchedulerType, default="linear")
parser.add_argument("--num_warmup_steps", type=int, default=10)
parser.add_argument("--max_train_steps", type=int, default=400)
parser.add_argument("--per_device_train_batch_size", type=int, default=4)
parser.add_argument("--output_dir", type=Path, default=None)
parser.add_argument("--seed", type=int, default=None)
parser.add_argument("--delay", type=float, default=0.0)
parser.add_argument("--resume", type=int)
parser.add_argument("--checkpoint_every", type=int)
parser.add_argument("--n_embd", type=int, default=16)
args = parser.parse_args()

torch.manual_seed(0)
accelerator = Accelerator(cpu=True)
model = GPT2LMHeadModel(
    GPT2Config(
        vocab_size=64,
        n_positions=16,
        n_embd=args.n_embd,
        n_layer=1,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
    )
)
tokens = torch.randint(0, 64, (512, 16))
train_dataloader = torch.utils.data.DataLoader(
    tokens, batch_size=args.per_device_train_batch_size, shuffle=True
)
no_decay = ["bias", "ln_1.weight", "ln_2.weight", "ln_f.weight"]
grouped = [
    {
        "params": [p for n, p in model.named_parameters() if not any(d in n for d in no_decay)],
        "weight_decay": args.weight_decay,
    },
    {
        "params": [p for n, p in model.named_parameters() if any(d in n for d in no_decay)],
        "weight_decay": 0.0,
    },
]
optimizer = torch.optim.AdamW(grouped, lr=args.learning_rate)
lr_scheduler = get_scheduler(
    name=args.lr_scheduler_type,
    optimizer=optimizer,
    num_warmup_steps=args.num_warmup_steps,
    num_training_steps=args.max_train_steps,
)
model, optimizer, train_dataloader, lr_scheduler = accelerator.prepare(
    model, optimizer, train_dataloader, lr_scheduler
)

config = {key: value for key, value in vars(args).items() if key not in ("record", "resume")}
run = lernkurve.init(
    name="clm",
    config=config,
    live=["learning_rate"],
    resume=args.resume,
    total_steps=args.max_train_steps,
)
print(f"run {run.id}", flush=True)
run.watch(model, optimizer, scheduler=lr_scheduler, map={"learning_rate": "lr"})
record = args.record.open("a", buffering=1)


def used(opt, _args, _kwargs):
    schedule = lr_scheduler.get_last_lr()[0]
    line = {"step": run.step, "lr": opt.param_groups[0]["lr"], "schedule": schedule}
    record.write(json.dumps(line) + "\n")


optimizer.optimizer.register_step_pre_hook(used)  # the real AdamW, behind accelerate's wrapper
completed_steps = run.step
stopped = False
with run:
    while completed_steps < args.max_train_steps and not stopped:
        for batch in train_dataloader:
            if not run.between_steps(completed_steps):
                stopped = True
                break
            outputs = model(input_ids=batch, labels=batch)
            accelerator.backward(outputs.loss)
            optimizer.step()
            lr_scheduler.step()
            optimizer.zero_grad()
            run.log({"train/loss": outputs.loss}, step=completed_steps)
            completed_steps += 1
            if args.checkpoint_every and completed_steps % args.checkpoint_every == 0:
                run.save_checkpoint(completed_steps)
            time.sleep(args.delay)
            if completed_steps >= args.max_train_steps:
                break
print(f"ended {run.status}", flush=True)
