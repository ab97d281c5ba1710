"""watch() with the wrapped objects frameworks hand out: the real optimizer is steered (asserted
at its own step pre-hook), the plain module's weights go into checkpoints."""

from __future__ import annotations

import socket
import time

import pytest
import torch
import torch.distributed as dist
from test_run import send

from lernkurve.tracking import client


@pytest.fixture
def group():
    """A one-rank gloo process group, for the wrappers that need one."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


class Holder:
    """A wrapper of the kind many libraries write: the optimizer as ``.optimizer``."""

    def __init__(self, optimizer) -> None:
        self.optimizer = optimizer

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    def step(self) -> None:
        self.optimizer.step()

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()


def wrapped(kind: str):
    """(model the script trains, optimizer it steps, the torch optimizer underneath)."""
    model = torch.nn.Linear(4, 2)
    if kind == "zero":
        from torch.distributed.optim import ZeroRedundancyOptimizer

        real = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=torch.optim.SGD, lr=0.1)
        return model, real, real
    real = torch.optim.SGD(model.parameters(), lr=0.1)
    if kind == "holder":
        return model, Holder(real), real
    if kind == "compiled":
        return torch.compile(model, backend="eager"), real, real
    if kind == "ddp":
        return torch.nn.parallel.DistributedDataParallel(model), real, real
    if kind == "fsdp2":
        from torch.distributed.fsdp import fully_shard

        fully_shard(model)
        return model, torch.optim.SGD(model.parameters(), lr=0.1), None
    raise AssertionError(kind)


def train_until_halved(db_path, model, optimizer, real) -> tuple[list[float], object]:
    """Send lr ×0.5 and train until it lands; the lrs the optimizer used at each step."""
    run = client.init(config={"lr": 0.1}, live=["lr"], db=db_path, system_metrics=False)
    run.watch(model, optimizer)
    used: list[float] = []
    (real or run.optimizer).register_step_pre_hook(
        lambda opt, *_: used.append(opt.param_groups[0]["lr"])
    )
    send(run.db, run.id, "hparams", {"lr": {"scale": 0.5}, "lr_mode": "scale"})
    x = torch.randn(8, 4)
    for _ in run.steps(2000):
        model(x).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
        if used[-3:] == [0.05] * 3:
            break
        time.sleep(0.005)
    run.finish()
    return used, run


@pytest.mark.parametrize("kind", ["holder", "compiled", "ddp", "zero", "fsdp2"])
def test_the_optimizer_under_a_wrapper_is_steered(db_path, group, kind):
    model, optimizer, real = wrapped(kind)
    used, run = train_until_halved(db_path, model, optimizer, real)
    assert used[0] == 0.1 and used[-1] == 0.05
    assert run.optimizer is (real or optimizer)
    assert isinstance(run.model, torch.nn.Linear)


def test_a_compiled_models_checkpoint_holds_the_plain_modules_weights(db_path):
    model = torch.nn.Linear(4, 2)
    run = client.init(config={"lr": 0.1}, db=db_path, system_metrics=False)
    run.watch(torch.compile(model, backend="eager"), torch.optim.SGD(model.parameters(), lr=0.1))
    path = run.save_checkpoint()
    run.finish()
    state = torch.load(path, weights_only=True)
    assert sorted(state["model"]) == ["bias", "weight"]  # no "_orig_mod." prefix
    torch.nn.Linear(4, 2).load_state_dict(state["model"])  # fits the script uncompiled too
