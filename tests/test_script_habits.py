"""Real scripts' habits, each in its own process, shaped like the public scripts people start
from: `config=vars(args)` with enums and None, accelerate's prepared optimizer and a
transformers schedule (run_clm_no_trainer.py), kill -9 and resume. Asserted at the optimizer
(a step pre-hook of the script's own) and on the stored points."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
import torch
from scripting import Scripts

from support import ROOT, open_sqlite, wait_for

pytest.importorskip("accelerate")
CLM = ROOT / "tests" / "scripts" / "clm_no_trainer.py"


@pytest.fixture
def clm(db_path, data_dir, tmp_path):
    with Scripts(CLM, db_path, data_dir, tmp_path) as start:
        yield start


def change(api, run_id: int, body: dict) -> dict:
    """PATCH hparams and wait for the event that says at which step it took effect."""
    before = len(api.events(run_id, "hparams"))
    response = api.patch(f"/api/runs/{run_id}/hparams", json=body)
    assert response.status_code == 200, response.get_json()
    return wait_for(lambda: (e := api.events(run_id, "hparams"))[before:] and e[before], 20)


def everything(db_path, run_id: int) -> dict:
    """The run's row and every row it owns, as stored."""
    with closing(open_sqlite(db_path)) as conn:
        tables = ("metrics", "events", "checkpoints", "metric_buckets", "snapshots")
        found = {
            t: conn.execute(f"SELECT * FROM {t} WHERE run_id = ?", (run_id,)).fetchall()
            for t in tables
        }
        found["run"] = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchall()
    return found


def killed_after_checkpoints(clm, *args: str):
    """A run with checkpoints at steps 20 and 40, its process killed (-9) past step 50."""
    proc, run_id, records = clm("--checkpoint_every", "20", "--delay", "0.01", *args)
    records.wait_past(50, timeout=60)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return run_id


def loss_steps(db_path, run_id: int) -> list[int]:
    with closing(open_sqlite(db_path)) as conn:
        rows = conn.execute(
            "SELECT step FROM metrics WHERE run_id = ? AND key = 'train/loss' ORDER BY step",
            (run_id,),
        ).fetchall()
    return [step for (step,) in rows]


@pytest.mark.sqlite_only  # compares the SQLite rows themselves
def test_an_enum_config_from_vars_args_resumes_after_kill_9(clm, db_path):
    run_id = killed_after_checkpoints(clm)
    proc, same, records = clm("--resume", str(run_id), "--max_train_steps", "80", record="again")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert same == run_id and "ended completed" in out
    assert loss_steps(db_path, run_id) == list(range(80))  # one value a step, no gap
    assert records.all()[0]["step"] == 40  # the newest checkpoint's step


@pytest.mark.sqlite_only
@pytest.mark.parametrize("damage", ["truncated", "other_model", "trusted_type"])
def test_a_resume_that_cannot_load_its_checkpoint_changes_nothing(
    clm, db_path, data_dir, tmp_path, damage
):
    run_id = killed_after_checkpoints(clm)
    with closing(open_sqlite(db_path)) as conn:
        (path,) = conn.execute(
            "SELECT path FROM checkpoints WHERE run_id = ? ORDER BY id DESC LIMIT 1", (run_id,)
        ).fetchone()
    args = ("--resume", str(run_id))
    if damage == "truncated":
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])
    elif damage == "other_model":
        args += ("--n_embd", "32")
    else:  # written by an older release: the config's enum itself pickled into the file
        from transformers import SchedulerType

        state = torch.load(path, weights_only=True)
        state["hparams"]["lr_scheduler_type"] = SchedulerType.LINEAR
        torch.save(state, path)
    before = everything(db_path, run_id)

    done = subprocess.run(
        [sys.executable, str(CLM), *args, "--record", str(tmp_path / "again")],
        env={**os.environ, "LERNKURVE_DB": str(db_path), "LERNKURVE_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    err = done.stderr
    assert done.returncode != 0
    assert f"run {run_id} was not resumed from" in err and "Nothing was changed" in err
    if damage == "trusted_type":
        assert "add_safe_globals([SchedulerType])" in err
    if damage == "other_model":
        assert "size mismatch" in err
    assert everything(db_path, run_id) == before


def test_accelerate_prepared_optimizer_takes_an_exact_factor_on_a_moving_schedule(clm, api):
    proc, run_id, records = clm("--delay", "0.01", "--max_train_steps", "100000")
    records.wait_past(15, timeout=60)  # past the warm-up: the schedule moves every step
    event = change(api, run_id, {"learning_rate": {"scale": 0.5}})
    used = records.wait_past(event["step"] + 20)
    assert api.control(run_id, "stop").status_code == 202
    proc.communicate(timeout=60)
    assert event["payload"]["asked"] == {"learning_rate": {"scale": 0.5}}
    assert event["payload"]["factor"] == 0.5 and event["payload"]["change"] == 0.5
    for record in used:
        factor = 0.5 if record["step"] >= event["step"] else 1.0
        assert record["lr"] == record["schedule"] * factor, record
    moving = {r["schedule"] for r in used if r["step"] >= event["step"]}
    assert len(moving) > 10


NANOGPT = ROOT / "tests" / "scripts" / "nanogpt_like.py"


@pytest.fixture
def nanogpt(db_path, data_dir, tmp_path):
    with Scripts(NANOGPT, db_path, data_dir, tmp_path) as start:
        yield start


def test_a_script_logging_lr_itself_gets_the_lr_used_beside_it(nanogpt, api):
    proc, run_id, records = nanogpt("--delay", "0.01", "--max_iters", "200")
    records.wait_past(30, timeout=60)
    event = change(api, run_id, {"learning_rate": {"scale": 0.5}})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "ended completed" in out, err
    used = {r["step"]: r for r in records.all()}
    assert sorted(used) == list(range(200))

    logged = series(api, run_id, "lr")
    effective = series(api, run_id, "lr/effective")
    assert logged == {step: r["schedule"] for step, r in used.items()}  # the script's own
    assert effective == {step: r["lr"] for step, r in used.items()}  # the last step's too
    assert (
        effective[199] == logged[199] * 0.5
        and effective[event["step"] - 1] == logged[event["step"] - 1]
    )
    notes = [e for e in api.events(run_id, "note") if e["payload"].get("key") == "lr/effective"]
    assert len(notes) == 1 and notes[0]["step"] == event["step"]
    # the param groups shown on the page follow the schedule, to the last step
    snapshot = api.get(f"/api/runs/{run_id}/snapshots?kind=optimizer&latest=1").get_json()
    assert snapshot["snapshots"][0]["payload"]["groups"][0]["lr"] == used[199]["lr"]


def series(api, run_id: int, key: str) -> dict[int, float]:
    data = api.get(f"/api/runs/{run_id}/metrics?keys={key}").get_json()["series"]
    return {step: value for step, value, _ in data.get(key, [])}


AUTOENCODER = ROOT / "tests" / "scripts" / "lightning_autoencoder.py"


@pytest.fixture
def autoencoder(db_path, data_dir, tmp_path):
    pytest.importorskip("lightning")
    with Scripts(AUTOENCODER, db_path, data_dir, tmp_path) as start:
        yield start


@pytest.mark.sqlite_only  # reads the SQLite rows themselves
def test_lightning_killed_then_resumed_from_its_own_checkpoint_is_the_same_run(
    autoencoder, api, db_path, tmp_path
):
    args = ("--max_steps", "300", "--every", "25")
    proc, run_id, records = autoencoder(*args, "--delay", "0.01")
    records.wait_past(20, timeout=90)
    event = change(api, run_id, {"lr": {"scale": 0.5}})
    records.wait_past(90, timeout=90)
    # kill -9 loses what the writer had not flushed: wait until the app lists a checkpoint
    # saved after the steer, as a person resuming would have seen it on the page
    url = f"/api/runs/{run_id}/checkpoints"
    wait_for(
        lambda: any(c["step"] > event["step"] for c in api.get(url).get_json()["checkpoints"]),
        60,
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    folder = tmp_path / "lernkurve" / f"run-{run_id}" / "checkpoints"  # one folder per run
    saved = sorted(int(p.stem.split("step=")[1]) for p in folder.glob("*.ckpt"))
    assert saved and saved[-1] >= 75 and saved[-1] > event["step"]

    proc, same, again = autoencoder(*args, "--ckpt_path", f"last-of-run-{run_id}", record="again")
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0 and "ended" in out, err
    assert same == run_id, err  # (err says why a resume was refused)
    resumed = api.events(run_id, "resume")[-1]
    assert resumed["step"] == saved[-1] and resumed["payload"]["from"] == "lightning"
    with closing(open_sqlite(db_path)) as conn:
        steps = [
            s
            for (s,) in conn.execute(
                "SELECT step FROM metrics WHERE run_id = ? AND key = 'train_loss' ORDER BY step",
                (run_id,),
            )
        ]
        listed = [
            p for (p,) in conn.execute("SELECT path FROM checkpoints WHERE run_id = ?", (run_id,))
        ]
        test_loss = conn.execute(
            "SELECT count(*) FROM metrics WHERE run_id = ? AND key = 'test_loss'", (run_id,)
        ).fetchone()[0]
    assert steps == list(range(300))  # no gap, no step twice
    for record in again.all():  # the steer came back with the checkpoint
        assert record["lrs"][0] == pytest.approx(record["schedule"] * 0.5, rel=1e-12), record
    assert all(str(folder) in path for path in listed) and len(listed) >= len(saved)
    assert test_loss == 1  # trainer.test() after fit


MNIST = ROOT / "tests" / "scripts" / "mnist_like.py"


@pytest.fixture
def mnist(db_path, data_dir, tmp_path):
    with Scripts(MNIST, db_path, data_dir, tmp_path) as start:
        yield start


def test_an_epoch_scheduler_takes_an_exact_factor_across_epochs(mnist, api):
    proc, run_id, records = mnist("--delay", "0.01", "--epochs", "5")
    records.wait_past(10, timeout=60)
    event = change(api, run_id, {"lr": {"scale": 0.5}})
    out, err = proc.communicate(timeout=120)
    assert "ended completed" in out, err
    used = records.all()
    assert {r["epoch"] for r in used if r["step"] >= event["step"]} >= {2, 3, 4, 5}
    for record in used:
        factor = 0.5 if record["step"] >= event["step"] else 1.0
        assert record["lr"] == record["schedule"] * factor, record
    hparams = api.run(run_id)["hparams"]
    assert hparams["resume"] is None and hparams["dry_run"] is False  # vars(args) as it was


@pytest.mark.sqlite_only
def test_an_epoch_loop_resumed_after_kill_9_goes_on_with_the_same_batch(mnist, db_path):
    proc, run_id, records = mnist("--delay", "0.01", "--checkpoint-every", "20")
    records.wait_past(45, timeout=60)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {r["step"]: r for r in records.all()}

    proc, same, again = mnist("--resume", str(run_id), record="again")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and same == run_id, err
    resumed = again.all()
    assert resumed[0]["step"] == 40 and (resumed[0]["epoch"], resumed[0]["batch"]) == (2, 10)
    assert resumed[0] == before[40]  # the same batch, weights and lr: the same loss, exactly
    assert loss_steps(db_path, run_id) == list(range(120))
