"""Steering details checked in-process against a real database: tensors, names, checkpoints."""

from __future__ import annotations

import threading
import warnings

import pytest
import torch
from test_run import rows, send

from lernkurve.shared.hparams import HParamError, schema_from_config, validate
from lernkurve.store.models import Event, Metric
from lernkurve.tracking import client


@pytest.fixture
def db(db_path):
    return client.open_database(db_path)


def drive(run, until, steps: int = 100_000, each=None) -> dict:
    """Run a loop in a thread until until() is true; returns lr used per step."""
    used = {}

    def loop():
        for step in run.steps(steps):
            if each:
                each(step)
            if run.optimizer is not None:
                run.optimizer.step()
                used[step] = run.optimizer.param_groups[0]["lr"]
            if until():
                break

    thread = threading.Thread(target=loop)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    return used


def test_a_tensor_is_stored_with_its_value_at_log_time_and_without_warnings(db):
    run = client.init(config={}, db=db.url)
    loss = torch.tensor(1.0, requires_grad=True) * 2  # requires grad, like a real loss
    total = torch.zeros(())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(6):
            total += step  # changed in place after it was logged
            run.log(step, loss=loss, total=total)
        run.finish()
    values = {(m.key, m.step): m.value for m in rows(db, Metric, run.id)}
    assert [values["total", s] for s in range(6)] == [0, 1, 3, 6, 10, 15]
    assert all(values["loss", s] == 2.0 for s in range(6))
    assert not [w for w in caught if "requires_grad" in str(w.message)]


def test_checkpoints_of_two_databases_never_share_a_file(tmp_path):
    paths = []
    for name in ("a.db", "b.db"):
        run = client.init(config={}, db=tmp_path / name)
        assert run.id == 1
        model = torch.nn.Linear(1, 1)
        torch.nn.init.constant_(model.weight, len(paths))
        run.watch(model)
        paths.append(run.save_checkpoint())
        run.finish()
    assert paths[0] != paths[1] and all(p.exists() for p in paths)
    assert paths[0].is_relative_to(tmp_path / "a.db.checkpoints")
    weights = [torch.load(p, weights_only=True)["model"]["weight"].item() for p in paths]
    assert weights == [0.0, 1.0]


def test_a_script_key_mapped_to_lr_scales_the_optimizer(db):
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    run = client.init(config={"lr_max": 0.1}, live=["lr_max"], db=db.url)
    run.watch(model, optimizer, map={"lr_max": "lr"})
    sent = {}

    def each(step):
        if step == 3:
            send(db, run.id, "hparams", {"lr_max": 0.05, "lr_mode": "scale"})
            sent["at"] = step

    used = drive(run, lambda: rows(db, Event, run.id) and run.hparams["lr_max"] == 0.05, each=each)
    run.finish()
    event = [e for e in rows(db, Event, run.id) if e.kind == "hparams"][0]
    assert event.payload["changes"] == {"lr_max": [0.1, 0.05]}
    assert event.payload["factor"] == pytest.approx(0.5)
    assert all(lr == pytest.approx(0.05 if s >= event.step else 0.1) for s, lr in used.items())


def test_a_live_key_nothing_uses_gets_one_warning_and_a_note(db, capfd):
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    run = client.init(config={"lr": 0.1, "wd": 0.1}, live=["lr", "wd"], db=db.url)
    run.watch(model, optimizer)

    def each(step):
        if step in (2, 4):
            send(db, run.id, "hparams", {"wd": 0.2 + step})

    drive(
        run,
        lambda: len([e for e in rows(db, Event, run.id) if e.kind == "hparams"]) == 2,
        each=each,
    )
    run.finish()
    notes = [e for e in rows(db, Event, run.id) if e.kind == "note"]
    assert len(notes) == 1 and notes[0].payload["key"] == "wd"
    assert "map={'wd': 'lr'}" in notes[0].payload["message"]
    assert capfd.readouterr().err.count("wd changed, but nothing uses it") == 1
    assert optimizer.param_groups[0]["weight_decay"] == 0  # nothing was guessed


def test_a_live_key_the_loop_reads_gets_no_warning(db):
    run = client.init(config={"warmup": 10}, live=["warmup"], db=db.url)

    def each(step):
        run.config["warmup"]
        if step == 2:
            send(db, run.id, "hparams", {"warmup": 20})

    drive(run, lambda: rows(db, Event, run.id), each=each)
    run.finish()
    assert [e.kind for e in rows(db, Event, run.id)] == ["hparams"]


def test_inferred_schemas_have_sane_bounds_and_messages_without_none():
    schema = schema_from_config({"learning_rate": 6e-4, "steps": 100, "wd": 0.0}, ["learning_rate"])
    assert all(value is not None for spec in schema.values() for value in spec.values())
    with pytest.raises(HParamError) as err:
        validate(schema, {"learning_rate": 1e6})
    assert "None" not in err.value.message and "0.6" in err.value.message
    assert validate(schema, {"learning_rate": 3e-4, "wd": 0.1}) == {
        "learning_rate": 3e-4,
        "wd": 0.1,
    }
    assert schema["learning_rate"]["log"] is True
