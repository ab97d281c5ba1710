"""Hugging Face Trainer with LernkurveCallback: a tiny GPT-2 from a config, steered by REST."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

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
from transformers import (  # noqa: E402
    GPT2Config,
    GPT2LMHeadModel,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from lernkurve.integrations.hf import LernkurveCallback  # noqa: E402
from support import wait_for  # noqa: E402


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: threads only fight over 2 busy cores
    yield
    torch.set_num_threads(threads)


class Recorder(TrainerCallback):
    """Slows each step a little; records the lr each group really uses at optimizer.step()."""

    def __init__(self, delay: float = 0.01) -> None:
        self.delay = delay
        self.records: list[tuple[int, float, float]] = []  # (step, used lr, schedule's lr)
        self.groups: list[list[float]] = []
        self.step = 0

    def on_train_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kwargs):
        inner = optimizer.optimizer  # accelerate's wrapper holds the torch optimizer

        def record(opt, *_):  # registered after Lernkurve's own hook: sees what step() uses
            used = opt.param_groups[0]["lr"]
            self.records.append((self.step, used, lr_scheduler.get_last_lr()[0]))
            self.groups.append([g["lr"] for g in opt.param_groups])

        inner.register_step_pre_hook(record)

    def on_step_begin(self, args, state, control, **kwargs):
        self.step = state.global_step + 1  # the step this optimizer step is in Lernkurve

    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(self.delay)


def tiny_trainer(output_dir: Path, db_path, max_steps: int, callbacks: list, **kwargs) -> Trainer:
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
    model = GPT2LMHeadModel(config)
    data = [{"input_ids": (ids := torch.randint(0, 32, (8,))), "labels": ids} for _ in range(64)]
    args = TrainingArguments(
        output_dir=str(output_dir),
        max_steps=max_steps,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        learning_rate=1e-3,
        weight_decay=0.01,
        warmup_steps=2,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        **{"save_strategy": "no", **kwargs},
    )
    callbacks = [LernkurveCallback(db=str(db_path)), *callbacks]
    return Trainer(model=model, args=args, train_dataset=data, callbacks=callbacks)


def test_a_trainer_run_appears_streams_and_an_lr_change_scales_its_schedule(api, db_path, tmp_path):
    recorder = Recorder(delay=0.02)
    trainer = tiny_trainer(tmp_path / "out", db_path, 40, [recorder], run_name="gpt2-tiny")
    job = Background(trainer.train)
    run = only_run(api)
    assert run["name"] == "gpt2-tiny"
    assert run["hparams"]["lr"] == 1e-3 and run["hparams"]["gradient_accumulation_steps"] == 2
    schema = run["config"]["schema"]
    assert {k for k in schema if schema[k]["live"]} == {"lr", "weight_decay", "max_grad_norm"}
    wait_for(lambda: series(api, run["id"], "loss"))
    wait_for(lambda: recorder.step >= 3)
    patch(api, run["id"], {"lr": 2e-4})  # scale, the default mode
    job.join()

    assert api.run(run["id"])["status"] == "completed"
    [event] = api.events(run["id"], "hparams")
    old, new = event["payload"]["changes"]["lr"]
    assert event["payload"]["mode"] == "scale" and new == 2e-4
    assert event["payload"]["factor"] == pytest.approx(new / old)  # new / what it was then
    assert [r[0] for r in recorder.records] == list(range(1, 41))  # one per optimizer step
    check_scaled(recorder.records, event)
    # the no-decay group keeps its ratio to the first (the Trainer makes two groups)
    assert all(len(g) == 2 and g[1] == pytest.approx(g[0]) for g in recorder.groups)
    loss, lr = series(api, run["id"], "loss"), series(api, run["id"], "lr")
    assert sorted(loss) == list(range(1, 41)) and sorted(lr) == list(range(1, 41))
    used = {step: value for step, value, _ in recorder.records}
    assert lr == pytest.approx(used)  # the lr series is what the optimizer used
    assert series(api, run["id"], "learning_rate") == pytest.approx(used)
    assert series(api, run["id"], "grad_norm")


def test_pause_holds_step_checkpoint_and_stop_write_the_trainers_own_and_resume_goes_on(
    api, db_path, tmp_path
):
    out = tmp_path / "out"
    trainer = tiny_trainer(out, db_path, 120, [Recorder(delay=0.01)])
    job = Background(trainer.train)
    run_id = only_run(api)["id"]
    wait_for(lambda: trainer.state.global_step >= 2)

    control(api, run_id, "pause")
    api.wait_status(run_id, "paused")
    before, after = held(lambda: trainer.state.global_step)
    assert before == after and 0 < before < 120

    patch(api, run_id, {"max_grad_norm": 0.25, "lr": 4e-4})
    control(api, run_id, "checkpoint")
    control(api, run_id, "resume")
    wait_for(lambda: checkpoints(api, run_id))
    assert trainer.args.max_grad_norm == 0.25
    saved = Path(checkpoints(api, run_id)[0])
    assert saved.parent == out and (saved / "trainer_state.json").exists()

    control(api, run_id, "stop")
    job.join()
    stopped_at = trainer.state.global_step
    assert stopped_at < 120
    assert api.run(run_id)["status"] == "stopped"
    assert (out / f"checkpoint-{stopped_at}" / "optimizer.pt").exists()
    assert os.path.abspath(out / f"checkpoint-{stopped_at}") in checkpoints(api, run_id)

    recorder = Recorder(delay=0)
    again = tiny_trainer(out, db_path, 120, [recorder])
    again.train(resume_from_checkpoint=True)
    assert api.run(run_id)["status"] == "completed"
    assert len(api.get("/api/runs").get_json()["runs"]) == 1  # the same run went on
    assert recorder.records[0][0] == stopped_at + 1
    factor = api.events(run_id, "hparams")[0]["payload"]["factor"]
    assert factor != 1.0
    for _, used, schedule in recorder.records:  # the steer came back with the checkpoint
        assert used == pytest.approx(schedule * factor)
    loss = series(api, run_id, "loss")
    assert sorted(loss) == list(range(1, 121))  # each step once
    assert [e["kind"] for e in api.events(run_id) if e["kind"] in ("pause", "stop", "resume")] == [
        "pause",
        "resume",
        "stop",
        "resume",
    ]


class Crash(TrainerCallback):
    """Dies at a step, as a killed process would, after the Trainer saved its checkpoints."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at:
            raise RuntimeError("the machine went down")


def test_a_trainer_resumed_from_an_older_checkpoint_goes_on_at_its_step(api, db_path, tmp_path):
    out = tmp_path / "out"
    crashing = tiny_trainer(out, db_path, 40, [Crash(25)], save_strategy="steps", save_steps=10)
    with pytest.raises(RuntimeError) as crash:
        crashing.train()
    callback = next(c for c in crashing.callback_handler.callbacks if hasattr(c, "run"))
    callback.run.fail(crash.value)  # what the process's exit does when a crash ends it
    run_id = only_run(api)["id"]
    assert api.run(run_id)["status"] == "failed"
    assert {os.path.basename(p) for p in checkpoints(api, run_id)} == {
        "checkpoint-10",
        "checkpoint-20",
    }

    data = [{"input_ids": (ids := torch.randint(0, 32, (8,))), "labels": ids} for _ in range(8)]
    again = tiny_trainer(out, db_path, 40, [])
    again.train(resume_from_checkpoint=str(out / "checkpoint-10"))  # not the newest
    again.evaluate(data)

    assert len(api.get("/api/runs").get_json()["runs"]) == 1  # the same run went on
    resumed = api.events(run_id, "resume")[-1]
    assert resumed["step"] == 11 and resumed["payload"]["from"] == "hf"
    assert sorted(series(api, run_id, "loss")) == list(range(1, 41))  # no gap, none twice
    assert list(series(api, run_id, "eval_loss")) == [40]  # evaluate() after train()
