"""Shaped like Lightning's autoencoder example, for the tests: a LitAutoEncoder with two param
groups (encoder, decoder at a tenth of its lr), a per-step OneCycleLR, Lightning's own
ModelCheckpoint every N steps, LernkurveCallback + LernkurveLogger, `trainer.test()` after fit.
Random data.

usage: lightning_autoencoder.py --record PATH [--max_steps N] [--delay S] [--every N]
                                [--ckpt_path PATH|last-of-run]
Prints "run <id>" once training starts. Records, in a step pre-hook on the optimizer, one JSON
line per optimizer step: the step, each group's lr and the schedule's value for group 0.
"""

import argparse
import json
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from lernkurve.integrations.lightning import LernkurveCallback, LernkurveLogger

parser = argparse.ArgumentParser()
parser.add_argument("--record", required=True)
parser.add_argument("--max_steps", type=int, default=400)
parser.add_argument("--delay", type=float, default=0.0)
parser.add_argument("--every", type=int, default=25)
parser.add_argument("--ckpt_path")
args = parser.parse_args()
torch.set_num_threads(1)


class LitAutoEncoder(L.LightningModule):
    def __init__(self, lr: float = 1e-2, delay: float = 0.0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.encoder = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 16))

    def training_step(self, batch, batch_idx):
        x = batch[0]
        loss = nn.functional.mse_loss(self.decoder(self.encoder(x)), x)
        self.log("train_loss", loss)
        time.sleep(self.hparams.delay)
        return loss

    def test_step(self, batch, batch_idx):
        x = batch[0]
        self.log("test_loss", nn.functional.mse_loss(self.decoder(self.encoder(x)), x))

    def configure_optimizers(self):
        lr = self.hparams.lr
        optimizer = torch.optim.Adam(
            [
                {"params": self.encoder.parameters()},
                {"params": self.decoder.parameters(), "lr": lr / 10},
            ],
            lr=lr,
        )
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[lr, lr / 10], total_steps=self.trainer.max_steps + 1
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def on_train_start(self):  # after the callback's: sees the lr as steered
        record = open(args.record, "a", buffering=1)  # noqa: SIM115 - open for the whole run
        scheduler = self.trainer.lr_scheduler_configs[0].scheduler

        def used(opt, *_):
            line = {
                "step": self.trainer.global_step,
                "lrs": [group["lr"] for group in opt.param_groups],
                "schedule": scheduler.get_last_lr()[0],
            }
            record.write(json.dumps(line) + "\n")

        self.trainer.optimizers[0].register_step_pre_hook(used)


class SaysItsRun(L.Callback):
    def __init__(self, lernkurve: LernkurveCallback) -> None:
        self.lernkurve = lernkurve

    def on_train_start(self, trainer, pl_module):
        print(f"run {self.lernkurve.run.id}", flush=True)


def data(count: int) -> torch.utils.data.DataLoader:
    x = torch.randn(count, 16, generator=torch.Generator().manual_seed(count))
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=8)


lernkurve = LernkurveCallback(name="autoencoder")
saver = ModelCheckpoint(every_n_train_steps=args.every, save_top_k=-1)
trainer = L.Trainer(
    max_steps=args.max_steps,
    callbacks=[lernkurve, SaysItsRun(lernkurve), saver],
    logger=LernkurveLogger(),
    log_every_n_steps=1,
    enable_progress_bar=False,
    enable_model_summary=False,
    default_root_dir=str(Path(args.record).parent),
)
model = LitAutoEncoder(delay=args.delay)
ckpt = args.ckpt_path
if ckpt and ckpt.startswith("last-of-run-"):  # the newest ModelCheckpoint file of that run
    folder = Path(args.record).parent / "lernkurve" / ckpt.removeprefix("last-of-") / "checkpoints"
    ckpt = str(max(folder.glob("*.ckpt"), key=lambda p: p.stat().st_mtime))
trainer.fit(model, data(4000), ckpt_path=ckpt)
trainer.test(model, data(64))
print("ended", flush=True)
