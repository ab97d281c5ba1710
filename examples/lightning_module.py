"""A Lightning module that Lernkurve watches and steers (fits sin(3x), no download).

    python examples/lightning_module.py                # lr, weight decay, clipping live
    python examples/lightning_module.py --ckpt PATH    # continue from a checkpoint, same run

Needs the lightning extra: pip install lightning==2.6.6
"""

from __future__ import annotations

import argparse

import lightning as L
import torch
from torch import nn

from lernkurve.integrations.lightning import LernkurveCallback, LernkurveLogger


class SineFit(L.LightningModule):
    def __init__(self, lr: float = 0.01, hidden: int = 64, max_steps: int = 3000) -> None:
        super().__init__()
        self.save_hyperparameters()  # these become the run's config in Lernkurve
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def training_step(self, batch, index):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("train/loss", loss)  # lands in Lernkurve through LernkurveLogger
        return loss

    def validation_step(self, batch, index):
        x, y = batch
        self.log("val/loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.hparams.max_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def loader(count: int, seed: int, shuffle: bool) -> torch.utils.data.DataLoader:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(count, 1, generator=generator) * 4 - 2
    data = torch.utils.data.TensorDataset(x, torch.sin(3 * x))
    return torch.utils.data.DataLoader(data, batch_size=32, shuffle=shuffle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--ckpt", help="a checkpoint to continue from")
    args = parser.parse_args()
    trainer = L.Trainer(
        max_steps=args.steps,
        gradient_clip_val=1.0,
        callbacks=[LernkurveCallback(name="sine-fit")],
        logger=LernkurveLogger(),
        default_root_dir="lightning-sine",
        log_every_n_steps=10,
        enable_progress_bar=False,
        accelerator="cpu",
    )
    model = SineFit(max_steps=args.steps)
    trainer.fit(model, loader(2048, 0, True), loader(256, 1, False), ckpt_path=args.ckpt)


if __name__ == "__main__":
    main()
