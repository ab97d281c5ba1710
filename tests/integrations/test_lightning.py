"""Lightning with LernkurveCallback and LernkurveLogger: a small MLP, steered by REST."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("lightning")

import lightning as L  # noqa: E402
import torch  # noqa: E402
from integration_support import (  # noqa: E402
    Background,
    check_scaled,
    checkpoints,
    control,
    held,
    only_run,
    patch,
    series,
)
from torch import nn  # noqa: E402

from lernkurve.integrations.lightning import LernkurveCallback, LernkurveLogger  # noqa: E402
from support import wait_for  # noqa: E402

# Lightning's own deprecation notices about torch internals are not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning:lightning.*"
)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: threads only fight over 2 busy cores
    yield
    torch.set_num_threads(threads)


class Net(L.LightningModule):
    def __init__(self, lr: float = 0.05, hidden: int = 8, delay: float = 0.0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.records: list[tuple[int, float, float]] = []  # (step, used lr, schedule's lr)

    def training_step(self, batch, index):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("train/loss", loss)
        time.sleep(self.hparams.delay)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=0.01)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 400)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def on_train_start(self):  # after the callback's: this hook runs after Lernkurve's own
        optimizer = self.trainer.optimizers[0]
        scheduler = self.trainer.lr_scheduler_configs[0].scheduler

        def record(opt, *_):
            step = self.trainer.global_step
            self.records.append((step, opt.param_groups[0]["lr"], scheduler.get_last_lr()[0]))

        optimizer.register_step_pre_hook(record)


def loader() -> torch.utils.data.DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 2, generator=generator)
    data = torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))
    return torch.utils.data.DataLoader(data, batch_size=16)


def trainer_for(root: Path, db_path, max_steps: int) -> L.Trainer:
    return L.Trainer(
        max_steps=max_steps,
        accumulate_grad_batches=2,
        gradient_clip_val=1.0,
        callbacks=[LernkurveCallback(db=str(db_path))],
        logger=LernkurveLogger(db=str(db_path)),
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=str(root),
        log_every_n_steps=1,
        accelerator="cpu",
    )


def test_a_lightning_run_appears_logs_and_an_lr_change_scales_its_scheduler(api, db_path, tmp_path):
    model = Net(delay=0.01)
    trainer = trainer_for(tmp_path, db_path, 60)
    job = Background(lambda: trainer.fit(model, loader()))
    run = only_run(api)
    assert run["name"] == "Net" and run["hparams"]["hidden"] == 8
    assert run["hparams"]["accumulate_grad_batches"] == 2
    schema = run["config"]["schema"]
    assert {k for k in schema if schema[k]["live"]} == {"lr", "weight_decay", "gradient_clip_val"}
    wait_for(lambda: series(api, run["id"], "train/loss"))
    patch(api, run["id"], {"lr": 0.01})
    job.join()

    assert api.run(run["id"])["status"] == "completed"
    [event] = api.events(run["id"], "hparams")
    old, new = event["payload"]["changes"]["lr"]
    assert event["payload"]["factor"] == pytest.approx(new / old) and new == 0.01
    assert [r[0] for r in model.records] == list(range(60))  # one per optimizer step
    check_scaled(model.records, event)
    assert sorted(series(api, run["id"], "train/loss")) == list(range(60))
    assert series(api, run["id"], "lr") == pytest.approx({s: u for s, u, _ in model.records})


def test_pause_holds_checkpoint_and_stop_save_lightnings_own_and_fit_goes_on(
    api, db_path, tmp_path
):
    trainer = trainer_for(tmp_path, db_path, 400)
    job = Background(lambda: trainer.fit(Net(delay=0.002), loader()))
    run_id = only_run(api)["id"]
    wait_for(lambda: trainer.global_step >= 2)

    control(api, run_id, "pause")
    api.wait_status(run_id, "paused")
    before, after = held(lambda: trainer.global_step)
    assert before == after and 0 < before < 400

    patch(api, run_id, {"gradient_clip_val": 0.5, "lr": 0.02})
    control(api, run_id, "checkpoint")
    control(api, run_id, "resume")
    wait_for(lambda: checkpoints(api, run_id))
    assert trainer.gradient_clip_val == 0.5
    saved = torch.load(checkpoints(api, run_id)[0], weights_only=True)
    assert saved["global_step"] == before  # Lightning's own checkpoint format

    control(api, run_id, "stop")
    job.join()
    stopped_at = trainer.global_step
    assert stopped_at < 400 and api.run(run_id)["status"] == "stopped"
    last = checkpoints(api, run_id)[-1]
    assert last.endswith(f"lernkurve-step={stopped_at}.ckpt") and Path(last).exists()

    model = Net()
    again = trainer_for(tmp_path, db_path, 400)
    again.fit(model, loader(), ckpt_path=last)
    assert api.run(run_id)["status"] == "completed"
    assert len(api.get("/api/runs").get_json()["runs"]) == 1  # the same run went on
    assert model.records[0][0] == stopped_at
    factor = api.events(run_id, "hparams")[0]["payload"]["factor"]
    for _, used, schedule in model.records:  # the steer came back with the checkpoint
        assert used == pytest.approx(schedule * factor)
    assert sorted(series(api, run_id, "train/loss")) == list(range(400))  # each step once
