"""The built-in tasks (spiral, digits): data, model and a training loop that obeys a Run."""

from __future__ import annotations

import gzip
import math
import time
from pathlib import Path

import torch
from torch import nn

from lernkurve.tracking.run import Run

DATA_DIR = Path(__file__).with_name("data")
SNAPSHOT_SECONDS = 0.25
GRID = 32


def spiral_data(seed: int, per_class: int = 300, classes: int = 3) -> tuple[torch.Tensor, ...]:
    """Three interleaved noisy spirals in [-1, 1]^2 (as in CS231n's and TF Playground's demos)."""
    gen = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for label in range(classes):
        radius = torch.linspace(0.05, 1.0, per_class)
        angle = torch.linspace(label * 4.0, (label + 1) * 4.0, per_class)
        angle = angle + 0.2 * torch.randn(per_class, generator=gen)
        xs.append(torch.stack([radius * torch.sin(angle), radius * torch.cos(angle)], dim=1))
        ys.append(torch.full((per_class,), label, dtype=torch.long))
    return _split(torch.cat(xs), torch.cat(ys), gen, val_fraction=1 / 3)


def digits_data(seed: int) -> tuple[torch.Tensor, ...]:
    """The 1,797 UCI 8x8 digits shipped in lernkurve/tasks/data, pixels scaled to [0, 1]."""
    with gzip.open(DATA_DIR / "digits.csv.gz", "rt") as handle:
        rows = [list(map(int, line.split(","))) for line in handle if line.strip()]
    table = torch.tensor(rows, dtype=torch.float32)
    x, y = table[:, :64] / 16.0, table[:, 64].long()
    return _split(x, y, torch.Generator().manual_seed(seed), val_fraction=0.2)


def _split(x, y, gen, val_fraction: float) -> tuple[torch.Tensor, ...]:
    order = torch.randperm(len(x), generator=gen)
    n_val = int(len(x) * val_fraction)
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def mlp(inputs: int, hidden: list[int], outputs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(inputs, width), nn.ReLU()]
        inputs = width
    layers.append(nn.Linear(inputs, outputs))
    return nn.Sequential(*layers)


def make_optimizer(name: str, params, hp: dict) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(
            params, lr=hp["lr"], betas=(hp["momentum"], 0.999), weight_decay=hp["weight_decay"]
        )
    return torch.optim.SGD(
        params, lr=hp["lr"], momentum=hp["momentum"], weight_decay=hp["weight_decay"]
    )


TASK_DATA = {"spiral": (spiral_data, 2, 3), "digits": (digits_data, 64, 10)}


class Trainer:
    """Trains one built-in task under a Run: live hparams, pause/step/stop, checkpoints."""

    def __init__(self, run: Run, task: str, resume_from: str | None = None) -> None:
        self.run = run
        self.task = task
        hp = run.hparams
        # These models are tiny: extra intra-op threads only fight each other (and the
        # other runs' threads) for the cores, making every step many times slower.
        torch.set_num_threads(1)
        torch.manual_seed(hp["seed"])
        load, inputs, classes = TASK_DATA[task]
        self.x, self.y, self.x_val, self.y_val = load(hp["seed"])
        self.model = mlp(inputs, hp["hidden"], classes)
        self.optimizer = make_optimizer(hp["optimizer"], self.model.parameters(), hp)
        self.loss_fn = nn.CrossEntropyLoss()
        self.gen = torch.Generator().manual_seed(hp["seed"] + 1)
        self.epoch, self.pos, self.order = 0, 0, None
        self.next_snapshot = 0.0  # time.monotonic() of the spiral's next boundary snapshot
        run.hparams.read_every_step("batch_size", "delay_ms")
        if resume_from:
            self._load(resume_from)
        run.watch(self.model, self.optimizer)
        if resume_from:
            run.apply_hparams(run.hparams)  # the fork's own values win over the checkpoint's

    def _load(self, path: str) -> None:
        state = torch.load(path, weights_only=True)  # a checkpoint is data, not code
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        extra = state.get("extra") or {}
        self.epoch, self.pos, self.order = (
            extra.get("epoch", 0),
            extra.get("pos", 0),
            extra.get("order"),
        )
        self.run.step = state["step"]

    def train(self) -> None:
        run, step = self.run, self.run.step
        epochs = run.hparams["epochs"]
        if self.epoch >= epochs:  # a fork from a checkpoint past these epochs
            done = self.epoch + self.pos / len(self.x)
            message = f"nothing to train: the checkpoint is {done:.3g} epochs in"
            run.event("note", {"message": f"{message}, this run trains {epochs}"}, step)
        while self.epoch < epochs:
            if self.order is None:
                self.order = torch.randperm(len(self.x), generator=self.gen)
            run.extra_state = extra = {"epoch": self.epoch, "pos": self.pos, "order": self.order}
            while self.pos < len(self.x):
                extra["pos"] = self.pos  # (checkpoints copy it)
                if not run.between_steps(step) or run.gone:  # gone: deleted in the app
                    return
                step = run.step  # an lr test or race that ended here moved the counter
                self._train_step(step)
                step += 1
                run.step = step
            self.epoch, self.pos, self.order = self.epoch + 1, 0, None
            self._evaluate(step - 1)
            run.total_steps = self._estimate_total(step)
        run.extra_state = {"epoch": self.epoch, "pos": 0, "order": None}
        self._snapshot(step, force=True)

    def _train_step(self, step: int) -> None:
        hp = self.run.hparams  # live values, read with dict's lookup (see read_every_step)
        batch = self.order[self.pos : self.pos + dict.get(hp, "batch_size")]
        self.pos += len(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(self.x[batch]), self.y[batch])
        loss.backward()
        self.optimizer.step()
        self.run.log(step, train_loss=loss.item())  # the lr used: logged by the run itself
        if time.monotonic() >= self.next_snapshot:
            self._snapshot(step)
        delay = dict.get(hp, "delay_ms")
        if delay:
            time.sleep(delay / 1000.0)

    @torch.no_grad()
    def _evaluate(self, step: int) -> None:
        logits = self.model(self.x_val)
        loss = self.loss_fn(logits, self.y_val).item()
        accuracy = (logits.argmax(1) == self.y_val).float().mean().item()
        self.run.log(step, val_loss=loss, val_accuracy=accuracy)

    def _estimate_total(self, step: int) -> int:
        per_epoch = math.ceil(len(self.x) / self.run.hparams["batch_size"])
        return step + (self.run.hparams["epochs"] - self.epoch) * per_epoch

    @torch.no_grad()
    def _snapshot(self, step: int, force: bool = False) -> None:
        if self.task != "spiral":
            self.next_snapshot = math.inf
            return
        clock = time.monotonic()
        if not force and clock < self.next_snapshot:
            return
        self.next_snapshot = clock + SNAPSHOT_SECONDS
        self.run.snapshot("boundary", boundary_grid(self.model, self.x, self.y), step)


def boundary_grid(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Class probabilities on a GRID x GRID lattice over the data, plus some labelled points."""
    low, high = -1.2, 1.2
    axis = torch.linspace(low, high, GRID)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    lattice = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    probs = torch.softmax(model(lattice), dim=1)
    points = torch.cat([x[:300], y[:300, None].float()], dim=1)
    return {
        "n": GRID,
        "extent": [low, high, low, high],
        "classes": probs.shape[1],
        "probs": [round(p, 3) for p in probs.reshape(-1).tolist()],
        "points": [[round(a, 3), round(b, 3), int(c)] for a, b, c in points.tolist()],
    }
