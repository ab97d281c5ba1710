#!/usr/bin/env python
"""Per-step overhead of the integrations: the same training with and without Lernkurve.

    python benchmarks/bench_integrations.py              # HF Trainer, Lightning, TensorBoard
    python benchmarks/bench_integrations.py --trials 7 --steps 300

- hf: a 2-layer GPT-2 from a config through ``transformers.Trainer`` (gradient accumulation
  2, logging every step) with ``LernkurveCallback`` against the same Trainer without it;
- lightning: a small MLP through ``lightning.Trainer`` with ``LernkurveCallback`` and
  ``LernkurveLogger`` against the same Trainer with no logger and no callback;
- tensorboard: a plain loop logging two scalars a step to ``lernkurve.tensorboard`` against
  the same loop logging to ``torch.utils.tensorboard`` (the script before the import changed).

Trials alternate (ABBA...) in one process with one torch thread; each times the training only
(``train()``/``fit()``, or the loop). Printed: the median steps/s of each and the median of
the per-pair ratios (with Lernkurve / without). Goal: >= 0.97 (as for the built-in tasks).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GOAL = 0.97


def hf_trial(with_lernkurve: bool, steps: int, folder: str) -> float:
    import torch
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        PrinterCallback,
        Trainer,
        TrainingArguments,
    )

    from lernkurve.integrations.hf import LernkurveCallback

    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=2,
        n_head=2,
        n_embd=16,
        vocab_size=32,
        n_positions=16,
        bos_token_id=0,
        eos_token_id=0,
    )
    data = [{"input_ids": (ids := torch.randint(0, 32, (8,))), "labels": ids} for _ in range(64)]
    args = TrainingArguments(
        output_dir=folder,
        max_steps=steps,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        log_level="error",
    )
    callbacks = [LernkurveCallback(name="bench-hf")] if with_lernkurve else []
    trainer = Trainer(
        model=GPT2LMHeadModel(config), args=args, train_dataset=data, callbacks=callbacks
    )
    trainer.remove_callback(PrinterCallback)  # printing every log line would dominate both
    started = time.perf_counter()
    trainer.train()
    return steps / (time.perf_counter() - started)


def lightning_trial(with_lernkurve: bool, steps: int, folder: str) -> float:
    import lightning as L
    import torch
    from torch import nn

    from lernkurve.integrations.lightning import LernkurveCallback, LernkurveLogger

    class Net(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 1))

        def training_step(self, batch, index):
            x, y = batch
            loss = nn.functional.mse_loss(self.net(x), y)
            self.log("train/loss", loss)
            return loss

        def configure_optimizers(self):
            optimizer = torch.optim.AdamW(self.parameters(), lr=0.01)
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": schedule, "interval": "step"},
            }

    torch.manual_seed(0)
    x = torch.randn(4096, 2)
    data = torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))
    loader = torch.utils.data.DataLoader(data, batch_size=32)
    trainer = L.Trainer(
        max_steps=steps,
        callbacks=[LernkurveCallback(name="bench-lightning")] if with_lernkurve else [],
        logger=LernkurveLogger() if with_lernkurve else False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=folder,
        log_every_n_steps=1,
        accelerator="cpu",
    )
    model = Net()
    started = time.perf_counter()
    trainer.fit(model, loader)
    return steps / (time.perf_counter() - started)


def tensorboard_trial(with_lernkurve: bool, steps: int, folder: str) -> float:
    import torch
    from torch import nn

    if with_lernkurve:
        from lernkurve.tensorboard import SummaryWriter
    else:
        from torch.utils.tensorboard import SummaryWriter

    torch.manual_seed(0)
    x = torch.randn(4096, 2)
    y = x.sum(1, keepdim=True)
    model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    writer = SummaryWriter(log_dir=os.path.join(folder, f"tb-{time.monotonic_ns()}"))
    started = time.perf_counter()
    for step in range(steps):
        index = torch.randint(0, len(x), (32,))
        loss = nn.functional.mse_loss(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        writer.add_scalar("train/loss", loss.item(), step)
        writer.add_scalar("train/batch", float(step), step)
    writer.close()
    return steps / (time.perf_counter() - started)


TRIALS = {"hf": hf_trial, "lightning": lightning_trial, "tensorboard": tensorboard_trial}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="pairs per integration")
    parser.add_argument("--steps", type=int, default=200, help="steps per HF/Lightning trial")
    parser.add_argument("--tb-steps", type=int, default=3000)
    parser.add_argument("--only", choices=sorted(TRIALS), action="append")
    args = parser.parse_args()

    import logging
    import warnings

    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = tempfile.mkdtemp(prefix="lernkurve-bench-")
    os.environ["LERNKURVE_DB"] = os.path.join(folder, "bench.db")

    print(
        f"{'integration':<12} {'without (steps/s)':>18} {'with (steps/s)':>15} {'ratio':>7}  goal"
    )
    missed = False
    for name in args.only or list(TRIALS):
        trial = TRIALS[name]
        steps = args.tb_steps if name == "tensorboard" else args.steps
        trial(True, max(steps // 10, 20), folder)  # warm-up: imports, first compile paths
        trial(False, max(steps // 10, 20), folder)
        plain, lernkurve, ratios = [], [], []
        for index in range(args.trials):
            order = (False, True) if index % 2 == 0 else (True, False)
            rate = {flag: trial(flag, steps, folder) for flag in order}
            plain.append(rate[False])
            lernkurve.append(rate[True])
            ratios.append(rate[True] / rate[False])
        ratio = statistics.median(ratios)
        verdict = "met" if ratio >= GOAL else "missed"
        missed |= ratio < GOAL
        print(
            f"{name:<12} {statistics.median(plain):>18.1f} {statistics.median(lernkurve):>15.1f} "
            f"{ratio:>7.3f}  >= {GOAL}, {verdict} (pairs {min(ratios):.2f}-{max(ratios):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
