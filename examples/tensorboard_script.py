"""A plain script that logs to TensorBoard, shown in Lernkurve by changing one import.

    python examples/tensorboard_script.py

Only the import below differs from a TensorBoard script (it was
``from torch.utils.tensorboard import SummaryWriter``). ``writer.run`` is the Lernkurve run:
``writer.run.watch(model, optimizer)`` lets the app steer lr as well.
"""

from __future__ import annotations

import torch
from torch import nn

from lernkurve.tensorboard import SummaryWriter


def main(steps: int = 2000) -> None:
    torch.manual_seed(0)
    x = torch.rand(1024, 1) * 4 - 2
    y = torch.sin(3 * x)
    model = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    writer = SummaryWriter(log_dir="runs/sine-sgd")
    writer.run.watch(model, optimizer)  # optional: lr from the app reaches this optimizer
    for step in range(steps):
        index = torch.randint(0, len(x), (64,))
        loss = nn.functional.mse_loss(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        writer.add_scalar("train/loss", loss.item(), step)
        if step % 100 == 0:
            with torch.no_grad():
                full = nn.functional.mse_loss(model(x), y).item()
            writer.add_scalars("loss", {"batch": loss.item(), "full": full}, step)
    writer.add_hparams({"lr": 0.05, "momentum": 0.9}, {"hparam/final_loss": full})
    writer.close()


if __name__ == "__main__":
    main()
