"""A plain PyTorch training script, watched and steered by Lernkurve.

It fits y = sin(3x) with a small MLP. Only the marked lines are Lernkurve's; the model, data
and loop are ordinary PyTorch. Run it while the app is open (or open the app later):

    python examples/regression.py                 # a new run
    python examples/regression.py --resume 12     # continue run 12 from its last checkpoint

Change lr, momentum or batch_size in the app and the loop picks them up between steps;
pause, step, stop and checkpoint work as for the built-in tasks.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import lernkurve


def make_data(n: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(n, 1) * 4 - 2
    return x, torch.sin(3 * x) + 0.1 * torch.randn_like(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--resume", type=int, help="run id to continue from its checkpoint")
    parser.add_argument("--step-delay", type=float, default=0.0, help="seconds to wait per step")
    args = parser.parse_args()

    torch.manual_seed(0)
    x, y = make_data()
    model = nn.Sequential(
        nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)
    )
    config = {"lr": 0.05, "momentum": 0.9, "batch_size": 64}
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"])

    # Lernkurve: a run that appears in the app; these three may change while it trains.
    with lernkurve.init(
        name="sin(3x) regression",
        config=config,
        live=["lr", "momentum", "batch_size"],
        resume=args.resume,
    ) as run:
        run.watch(model, optimizer)  # live values flow into the optimizer; checkpoints hold both
        for step in run.steps(args.steps):  # obeys pause, single step and stop
            batch = torch.randint(0, len(x), (run.config["batch_size"],))
            loss = nn.functional.mse_loss(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            run.log({"train_loss": loss.item(), "lr": optimizer.param_groups[0]["lr"]}, step=step)
            if args.step_delay:
                time.sleep(args.step_delay)
    print(f"run {run.id} ended: {run.status}")


if __name__ == "__main__":
    main()
