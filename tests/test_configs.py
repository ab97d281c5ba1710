"""Configs as people write them: vars(args), dataclasses, Hydra, TrainingArguments."""

from __future__ import annotations

import argparse
import enum
import pathlib
from dataclasses import dataclass, field

import pytest
import torch
from omegaconf import OmegaConf

from lernkurve.shared.configs import flatten
from lernkurve.shared.hparams import HParamError
from lernkurve.store.models import Event, RunRow
from lernkurve.tracking import client


class Schedule(str, enum.Enum):  # noqa: UP042 - as transformers' SchedulerType is
    LINEAR = "linear"
    COSINE = "cosine"


class Level(enum.IntEnum):
    LOW = 1


def argparse_config() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--resume", default=None)
    parser.add_argument("--betas", type=float, nargs=2, default=(0.9, 0.95))
    parser.add_argument("--schedule", type=Schedule, default=Schedule.COSINE)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("/tmp/out"))
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args([])
    args.extra = {"warmup": {"steps": 100, "kind": Level.LOW}, "tags": ("a", "b")}
    args.device = torch.device("cpu")
    return args


def stored(db_path, run_id: int) -> RunRow:
    database = client.open_database(db_path)
    with database.Session() as session:
        return session.get(RunRow, run_id)


def test_vars_args_with_none_tuple_dict_enum_and_path_is_kept_as_plain_data(db_path, capfd):
    run = client.init(config=vars(argparse_config()), live=["lr"], db=db_path)
    run.finish()
    row = stored(db_path, run.id)
    assert row.hparams == {
        "lr": 3e-4,
        "epochs": 3,
        "resume": None,
        "betas": [0.9, 0.95],
        "schedule": "cosine",
        "out": "/tmp/out",
        "compile": False,
        "extra.warmup.steps": 100,
        "extra.warmup.kind": 1,
        "extra.tags": ["a", "b"],
        "device": "cpu",
    }
    schema = row.config["schema"]
    assert schema["lr"]["live"] and schema["lr"]["type"] == "float"
    assert schema["resume"]["type"] == "value" and schema["betas"]["type"] == "value"
    # one note names what had no plain form
    assert capfd.readouterr().err.count("kept as text") == 1
    database = client.open_database(db_path)
    with database.Session() as session:
        notes = session.query(Event).filter_by(run_id=run.id, kind="note").all()
    assert len(notes) == 1 and "device (torch.device)" in notes[0].payload["message"]


def test_the_namespace_itself_a_dataclass_and_a_hydra_config_give_the_same_keys(db_path):
    @dataclass
    class Optim:
        lr: float = 0.1
        betas: tuple = (0.9, 0.99)

    @dataclass
    class Config:
        optim: Optim = field(default_factory=Optim)
        path: pathlib.Path = pathlib.Path("data")
        schedule: Schedule = Schedule.LINEAR

    hydra = OmegaConf.create({"optim": {"lr": 0.1, "betas": [0.9, 0.99]}, "path": "data"})
    assert flatten(Config())[0] == {
        "optim.lr": 0.1,
        "optim.betas": [0.9, 0.99],
        "path": "data",
        "schedule": "linear",
    }
    assert flatten(hydra)[0] == {"optim.lr": 0.1, "optim.betas": [0.9, 0.99], "path": "data"}
    assert flatten(argparse_config())[0] == flatten(vars(argparse_config()))[0]
    run = client.init(config=Config(), live=["optim.lr"], db=db_path)
    run.config["optim.lr"]
    run.finish()
    assert stored(db_path, run.id).config["schema"]["optim.lr"]["live"]


def test_training_arguments_are_a_config(db_path, tmp_path):
    transformers = pytest.importorskip("transformers")
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "out"), report_to=[])
    run = client.init(config=args, live=["learning_rate"], db=db_path)
    run.finish()
    hparams = stored(db_path, run.id).hparams
    assert hparams["learning_rate"] == args.learning_rate
    assert hparams["lr_scheduler_type"] == "linear"  # an enum, kept as its value


def test_only_numbers_and_flags_can_be_live_and_errors_name_key_type_and_database(db_path):
    with pytest.raises(HParamError) as err:
        client.init(config={"resume": None}, live=["resume"], db=db_path)
    message = str(err.value)
    assert "resume" in message and "NoneType" in message and str(db_path) in message
    with pytest.raises(HParamError) as err:
        client.init(config={"optimizer": "adamw"}, live=["optimizer"], db=db_path)
    assert "'optimizer'" in str(err.value) and "str" in str(err.value)
    with pytest.raises(TypeError) as err:
        client.init(config=42, db=db_path)
    assert "config must be a dict" in str(err.value) and str(db_path) in str(err.value)
