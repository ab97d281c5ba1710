"""A DistributedDataParallel script under torchrun: one run in Lernkurve for the whole job.

It fits y = sin(3x) with a small MLP, each rank on its own share of the data. Every rank calls
``lernkurve.init``: rank 0 owns the run, the others attach. A change from the app (lr, weight
decay, pause, step, stop, checkpoint) reaches every rank at the same step, so the replicas
stay equal. Run it while the app is open (or open the app later):

    torchrun --standalone --nproc_per_node=2 examples/ddp.py
    torchrun --standalone --nproc_per_node=2 examples/ddp.py --resume 12   # from a checkpoint
"""

from __future__ import annotations

import argparse

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import lernkurve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--resume", type=int, help="run id to continue from its checkpoint")
    args = parser.parse_args()

    dist.init_process_group("gloo")  # "nccl" on GPUs; Lernkurve agrees over gloo either way
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)  # the same start on every rank (DDP also broadcasts rank 0's weights)
    model = DistributedDataParallel(
        nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    data = torch.Generator().manual_seed(rank)  # each rank its own batches
    config = {"lr": 0.05, "weight_decay": 1e-4, "batch_size": 64}

    # Lernkurve: the same call on every rank; the run shows world size and hosts.
    with lernkurve.init(
        name="ddp-regression", config=config, live=list(config), resume=args.resume
    ) as run:
        run.watch(model, optimizer)  # a resume loads the checkpoint on every rank
        for step in run.steps(args.steps):  # every rank pauses, steps and stops together
            x = torch.rand(run.config["batch_size"], 1, generator=data) * 4 - 2
            y = torch.sin(3 * x)
            loss = nn.functional.mse_loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            run.log(step, loss=loss)  # from rank 0 (the others' calls do nothing)
            if step % 10 == 0:  # every rank's value: loss/rank0 ... or reduce="mean"
                run.log(step, all_ranks=True, shard_loss=loss)
    if rank == 0:
        print(f"run {run.id} ended {run.status} ({world} ranks)")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
