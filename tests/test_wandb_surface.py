"""``import lernkurve as wandb``: three scripts written for Weights & Biases, each in its own
process with only the import changed, steered and read back through the app's REST API; then
the surface's parts in this process (steps, flattening, config, summary, disabled mode, the
names it does not cover, resume, stop, images)."""

from __future__ import annotations

import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from scripting import Scripts
from sqlalchemy import select

import lernkurve as wandb
from lernkurve.store.media import media_root
from lernkurve.store.models import Command, Event, Metric, RunRow
from lernkurve.tracking import client
from lernkurve.tracking.run import Run
from lernkurve.tracking.wandbsurface import current, names
from lernkurve.tracking.wandbsurface.media import QUANTILES, Histogram, Image
from lernkurve.tracking.wandbsurface.runview import Stopped
from lernkurve.tracking.wandbsurface.stepper import Stepper, flatten
from lernkurve.tracking.wandbsurface.summary import Summary, aggregates
from support import ROOT, wait_for

SCRIPTS = ROOT / "tests" / "scripts"


@pytest.fixture(autouse=True)
def fresh_surface(monkeypatch):
    """Each test warns afresh and leaves no current run behind."""
    monkeypatch.setattr(names, "_warned", set())
    yield
    run = current.get()
    if run is not None:
        run.finish()
    current._held.update(run=None, native=None)


def script_fixture(name: str):
    @pytest.fixture
    def start(db_path, data_dir, tmp_path):
        with Scripts(SCRIPTS / name, db_path, data_dir, tmp_path) as starter:
            yield starter

    return start


plain = script_fixture("wandb_plain.py")
nested = script_fixture("wandb_nested.py")
media = script_fixture("wandb_media.py")


def change(api, run_id: int, body: dict) -> dict:
    """PATCH hparams and wait for the event that says at which step it took effect."""
    before = len(api.events(run_id, "hparams"))
    response = api.patch(f"/api/runs/{run_id}/hparams", json=body)
    assert response.status_code == 200, response.get_json()
    return wait_for(lambda: (e := api.events(run_id, "hparams"))[before:] and e[before], 30)


def series(api, run_id: int, key: str) -> dict[int, float]:
    return {step: value for step, value, _ in api.points(run_id, key)}


def snapshots(api, run_id: int, kind: str) -> list[dict]:
    return api.get(f"/api/runs/{run_id}/snapshots?kind={kind}").get_json()["snapshots"]


def read_png(data: bytes) -> np.ndarray:
    """A PNG's pixels as (height, width, channels), decoded by hand (filter 0 rows only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, body, header = 8, b"", None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        chunk = data[position + 8 : position + 8 + length]
        crc = struct.unpack(">I", data[position + 8 + length : position + 12 + length])[0]
        assert crc == zlib.crc32(kind + chunk)
        if kind == b"IHDR":
            header = struct.unpack(">IIBB", chunk[:10])
        elif kind == b"IDAT":
            body += chunk
        position += 12 + length
    width, height, depth, color = header
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[color]
    raw = np.frombuffer(zlib.decompress(body), np.uint8).reshape(height, 1 + width * channels)
    assert depth == 8 and (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(height, width, channels)


# -- three wandb scripts, only the import changed ----------------------------------------------


def test_a_plain_wandb_loop_feeding_config_lr_is_steered_at_the_optimizer(plain, api):
    proc, run_id, records = plain("200", "0.01")
    records.wait_past(20, timeout=60)
    event = change(api, run_id, {"lr": 0.02})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "ended" in out, err

    used = {r["step"]: r["lr"] for r in records.all()}  # at each optimizer.step()
    assert sorted(used) == list(range(200)) and 20 < event["step"] < 200
    assert all(lr == (0.02 if step >= event["step"] else 0.1) for step, lr in used.items())
    assert event["payload"]["changes"] == {"lr": [0.1, 0.02]}
    assert series(api, run_id, "lr") == used  # the script logs what its optimizer used
    assert sorted(series(api, run_id, "loss")) == list(range(200))  # wandb's steps: 0, 1, ...
    run = api.run(run_id)
    assert run["status"] == "completed" and run["name"] == "plain"
    assert run["config"]["project"] == "wandb-compat"
    assert run["hparams"] == {"lr": 0.02, "momentum": 0.9, "batch_size": 32, "optimizer": "sgd"}
    schema = run["config"]["schema"]
    assert schema["lr"]["live"] and schema["batch_size"]["live"] and not schema["optimizer"]["live"]
    assert run["config"]["summary"]["loss"] == series(api, run_id, "loss")[199]


def test_nested_dicts_commit_false_and_explicit_steps_land_where_wandb_puts_them(nested, api):
    proc, run_id, records = nested("3", "4")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "ended" in out, err

    def steps(key: str) -> list[int]:
        return sorted(series(api, run_id, key))

    assert steps("train/loss") == steps("train/batch") == steps("epoch") == list(range(12))
    assert series(api, run_id, "epoch") == {step: step // 4 for step in range(12)}
    assert series(api, run_id, "train/batch") == {step: step % 4 for step in range(12)}
    validation = {r["step"]: r["val"] for r in records.all()}  # commit=False: the next step's
    assert series(api, run_id, "val/loss") == validation and sorted(validation) == [4, 8, 12]
    assert series(api, run_id, "val/sizes/n") == {4: 56, 8: 56, 12: 56}
    assert series(api, run_id, "test/loss") == {17: 0.5}  # two calls at one explicit step
    assert series(api, run_id, "test/acc") == {17: 0.75}
    assert series(api, run_id, "late/value") == {}  # a step lower than the current one
    assert err.count("log(step=0) is lower than the current step 12") == 1
    run = api.run(run_id)
    assert run["tags"] == ["project:wandb-compat", "nested", "commit-false"]
    assert run["notes"] == "epochs of batches"
    about = {k: run["config"].get(k) for k in ("project", "group", "job_type")}
    assert about == {"project": "wandb-compat", "group": "nested", "job_type": "train"}
    assert run["hparams"] == {"model.hidden": 8, "model.layers": 2, "optim.lr": 0.05, "epochs": 3}
    assert [r["id"] for r in api.get("/api/runs?tag=nested").get_json()["runs"]] == [run_id]


def test_watch_images_tables_and_summary_of_a_wandb_script(media, api, db_path):
    proc, run_id, records = media("120", "0.02")
    records.wait_past(20, timeout=60)
    event = change(api, run_id, {"lr": 0.05})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "ended" in out, err

    # the loop sets lr = config.lr × its own cosine each step, under watch()'s steering
    used = records.all()
    assert [r["step"] for r in used] == list(range(120)) and 20 < event["step"] < 120
    for r in used:
        assert r["lr"] == (0.05 if r["step"] >= event["step"] else 0.1) * r["factor"], r
    assert series(api, run_id, "lr") == {r["step"]: r["lr"] for r in used}  # Lernkurve's record
    # watch(log="all", log_freq=10): gradient norms and weight/gradient percentiles
    every_10 = list(range(0, 120, 10))
    assert sorted(series(api, run_id, "grad/total_norm")) == every_10
    assert sorted(series(api, run_id, "update/ratio/0.weight")) == every_10
    bands = snapshots(api, run_id, "distribution")
    assert sorted(s["step"] for s in bands if s["payload"]["name"] == "0.weight.grad") == every_10
    histograms = [s for s in bands if s["payload"]["name"] == "weights"]  # wandb.Histogram
    assert [s["step"] for s in histograms] == every_10
    assert histograms[0]["payload"]["q"] == list(QUANTILES)

    images = snapshots(api, run_id, "image")
    assert [(s["step"], s["payload"]["key"]) for s in images] == [
        *((step, "samples") for step in every_10),
        (120, "pixels"),
    ]
    folder = media_root(client.open_database(db_path)) / f"run-{run_id}"
    for image in images:
        path = Path(image["payload"]["path"])
        assert path.parent == folder and path.is_file()
    first = read_png(Path(images[0]["payload"]["path"]).read_bytes())
    assert first.shape == (12, 16, 3) and images[0]["payload"]["caption"] == "step 0"
    assert first[..., 0].max() == 0 and first[..., 1].max() == 255  # red × step/steps
    pixels = read_png(Path(images[-1]["payload"]["path"]).read_bytes())
    assert (pixels.ravel() == np.arange(8 * 8 * 3) % 256).all()
    (table,) = snapshots(api, run_id, "table")
    assert table["step"] == 120 and table["payload"]["columns"] == ["id", "prediction", "label"]
    assert [row[0] for row in table["payload"]["data"]] == [0, 1, 2]

    config = api.run(run_id)["config"]
    assert config["metrics"] == {"val_loss": {"summary": "min"}, "accuracy": {"summary": "max"}}
    best = max(series(api, run_id, "accuracy").values())
    summary = config["summary"]
    assert summary["val_loss"] == {"min": 1.0} and summary["accuracy"] == {"max": best}
    assert summary["best_accuracy"] == best and summary["note"] == "done"
    (alert,) = [e for e in api.events(run_id, "note") if e["payload"].get("by") == "alert"]
    assert alert["payload"]["title"] == "finished" and alert["payload"]["level"] == "INFO"
    assert err.count("wandb's Artifact is not supported") == 1
    assert err.count("wandb's log_artifact is not supported") == 1
    assert api.delete(f"/api/runs/{run_id}").status_code == 204
    assert not folder.exists()  # a deleted run's images go with it


# -- the parts, in this process -----------------------------------------------------------------


def commits(calls: list) -> list:
    """What a Stepper commits for a list of (values, step, commit) calls, closed at the end."""
    done: list = []
    stepper = Stepper(lambda step, values, next_step: done.append((step, values, next_step)))
    for values, step, commit in calls:
        stepper.log(values, step, commit)
    stepper.close()
    return done


def test_steps_count_from_zero_and_commit_false_waits_for_the_next_commit():
    done = commits([({"a": 1}, None, None), ({"b": 2}, None, False), ({"c": 3}, None, None)])
    assert done == [(0, {"a": 1}, 1), (1, {"b": 2, "c": 3}, 2)]


def test_an_explicit_step_waits_for_a_later_one_and_a_lower_one_is_dropped_with_a_warning():
    with pytest.warns(UserWarning, match=r"step=1\) is lower than the current step 5"):
        done = commits(
            [
                ({"a": 1}, 5, None),
                ({"b": 2}, 5, None),
                ({"x": 0}, 1, None),  # dropped
                ({"x": 0}, 2, None),  # dropped, no second warning
                ({"c": 3}, None, None),  # at the current step 5, which commits
                ({"d": 4}, 9, True),
                ({"e": 5}, None, False),
            ]
        )
    assert done == [
        (0, {}, 5),  # nothing logged at 0, but the loop moved on: a step boundary
        (5, {"a": 1, "b": 2, "c": 3}, 6),
        (6, {}, 9),
        (9, {"d": 4}, 10),
        (10, {"e": 5}, None),
    ]


def test_nested_dicts_become_slash_keys():
    data = {"train": {"loss": 1.0, "deep": {"x": 2}}, "empty": {}, "lr": 0.1}
    assert flatten(data) == {"train/loss": 1.0, "train/deep/x": 2, "lr": 0.1}


def test_a_tensor_logged_with_commit_false_keeps_its_value_at_log_time(db_path):
    run = wandb.init(project="t", config={}, db=db_path, system_metrics=False)
    value = torch.tensor(1.5)
    wandb.log({"x": value}, commit=False)
    value.fill_(7.0)  # a loop that reuses its accumulator
    wandb.log({"y": 2})
    wandb.finish()
    assert run.summary["x"] == 1.5 and run.summary["y"] == 2


def test_config_reads_live_values_and_new_keys_join_the_run(db_path):
    config = {"lr": 0.1, "optim": {"beta": 0.9}, "name": "net", "steps": 10}
    run = wandb.init(config=config, db=db_path, system_metrics=False)  # imported as wandb here
    assert wandb.run is run and isinstance(run.id, str) and run.lernkurve.id == int(run.id)
    assert wandb.config.lr == wandb.config["lr"] == 0.1 and wandb.config.get("nope", 3) == 3
    assert wandb.config.optim == {"beta": 0.9} and "optim" in wandb.config
    assert wandb.config.as_dict() == config and set(wandb.config.keys()) == set(config)
    with pytest.raises(AttributeError):
        wandb.config.nope  # noqa: B018 - as wandb: a missing key is an AttributeError
    wandb.config.update({"dropout": 0.2, "lr": 0.3})
    wandb.config.width = 64
    run.lernkurve.hparams["lr"] = 0.05  # what the app's change does between two steps
    assert wandb.config.lr == 0.05 and wandb.config["width"] == 64
    wandb.log({"loss": 1.0})  # a step boundary: reads from here on count as the loop's
    wandb.config.dropout  # noqa: B018
    assert "dropout" in run.lernkurve.hparams.read_keys
    wandb.finish()
    with client.open_database(db_path).Session() as session:
        row = session.get(RunRow, int(run.id))
    assert row.hparams == {
        "lr": 0.05, "optim.beta": 0.9, "name": "net", "steps": 10, "dropout": 0.2, "width": 64,
    }  # fmt: skip
    live = {key for key, spec in row.config["schema"].items() if spec["live"]}
    assert live == {"lr", "optim.beta", "steps", "dropout", "width"}


@pytest.mark.parametrize("change_at", [1, 3])  # 1: before the loop read lr after the start
def test_a_loop_that_feeds_config_lr_itself_gets_the_steered_value_once(db_path, change_at):
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    run = wandb.init(project="t", config={"lr": 0.1}, db=db_path, system_metrics=False)
    wandb.watch(model, log=None)
    used = []
    optimizer.register_step_post_hook(lambda opt, *_: used.append(opt.param_groups[0]["lr"]))
    for step in range(6):
        if step == change_at:
            run.lernkurve.set_hparams({"lr": 0.2})  # the app's change
        for group in optimizer.param_groups:
            group["lr"] = wandb.config.lr * 0.5  # the loop's own schedule on the config's lr
        model(torch.ones(1, 2)).sum().backward()
        optimizer.step()
        wandb.log({"step": step})
    wandb.finish()
    assert run.lernkurve.steering is not None  # found at the first optimizer.step()
    # the steered value reaches the optimizer once: not scaled again, not compounding
    assert used == [0.05] * change_at + [0.1] * (6 - change_at) and run.config.lr == 0.2


def test_a_loop_that_only_reads_config_lr_stays_steered(db_path, capsys):
    model = torch.nn.Linear(2, 1)
    run = wandb.init(project="t", config={"lr": 0.1}, db=db_path, system_metrics=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=wandb.config.lr)
    wandb.watch(model, log=None)
    used = []
    optimizer.register_step_post_hook(lambda opt, *_: used.append(opt.param_groups[0]["lr"]))
    for step in range(6):
        if step == 3:
            run.lernkurve.set_hparams({"lr": 0.5})  # the app's change
        print(f"lr {wandb.config.lr}")  # read every step, never written into the optimizer
        model(torch.ones(1, 2)).sum().backward()
        optimizer.step()
        wandb.log({"step": step})
    wandb.finish()
    assert used == [0.1] * 3 + [0.5] * 3 and run.config.lr == 0.5


def test_summary_folds_logged_values_and_keeps_what_was_set():
    summary = Summary()
    summary.define("val/*", aggregates("min,max"))
    summary.define("acc", aggregates("best", goal="maximize"))
    for step in range(4):
        summary.observe({"val/loss": 3.0 - step, "acc": torch.tensor(0.1 * step), "x": step})
    summary["best"] = torch.tensor(2.0)
    summary.best_epoch = 3
    assert summary["val/loss"] == {"min": 0.0, "max": 3.0} and summary["x"] == 3
    assert summary["acc"] == {"max": pytest.approx(0.3)} and summary.best == 2.0
    assert summary.final()["best_epoch"] == 3 and "best" in summary and len(summary) == 5


def test_histograms_from_values_and_from_numpy_bins_give_the_same_bands():
    values = np.linspace(-1.0, 1.0, 10_001)
    direct = Histogram(values).payload("w")
    binned = Histogram(np_histogram=np.histogram(values, bins=200)).payload("w")
    assert direct["values"] == pytest.approx(list(np.quantile(values, QUANTILES)))
    assert binned["values"] == pytest.approx(direct["values"], abs=0.02)
    assert Histogram([]).payload("w") is None


def test_images_from_tensors_arrays_and_pil_are_pngs_of_their_pixels():
    chw = torch.zeros(3, 4, 5)
    chw[1] = 1.0  # green, a float image in [0, 1]
    assert (read_png(Image(chw).png) == [0, 255, 0]).all()
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert (read_png(Image(gray).png)[..., 0] == gray).all()
    signed = np.array([[-1.0, 1.0]])
    assert read_png(Image(signed).png)[..., 0].tolist() == [[0, 255]]
    rgba = np.full((2, 2, 4), 200, np.uint8)
    assert read_png(Image(rgba, caption="c").png).shape == (2, 2, 4)
    pil = pytest.importorskip("PIL.Image")
    picture = pil.new("RGB", (3, 2), (10, 20, 30))
    assert (read_png(Image(picture).png) == [10, 20, 30]).all()
    with pytest.warns(UserWarning, match="cannot be drawn"):
        assert Image(np.zeros((2, 2, 7))).png is None


def test_disabled_mode_does_nothing_and_every_call_works(db_path):
    run = wandb.init(project="p", config={"lr": 0.1}, mode="disabled", db=db_path)
    assert wandb.run is run and wandb.config.lr == 0.1 and run.disabled
    wandb.log({"a": {"b": 1}})
    wandb.log({"c": 2}, commit=False)
    assert run.step == 1
    wandb.watch(torch.nn.Linear(1, 1), log="all")
    wandb.define_metric("a/b", summary="min")
    wandb.alert("t", "x")
    wandb.summary["k"] = 1
    run.log_code(".").anything()[0].more()
    run.mark_preempting()
    with run:
        pass
    assert wandb.run is None
    with client.open_database(db_path).Session() as session:
        assert session.scalars(select(RunRow)).all() == []


def test_names_wandb_has_and_lernkurve_does_not_warn_once_by_name_and_never_raise(db_path):
    with pytest.warns(UserWarning) as heard:
        for _ in range(2):
            artifact = wandb.Artifact("model", type="model")
            artifact.add_file("x").metadata["k"] = 1
            wandb.log_artifact(artifact)
            wandb.plot.line(wandb.Table(data=[[1, 2]], columns=["x", "y"]), "x", "y")
        run = wandb.init(project="p", config={}, db=db_path, system_metrics=False, sweepy=1)
        run.log_code(".")
        run.log_code(".")
    said = [str(w.message) for w in heard]
    for name in ("Artifact", "log_artifact", "plot", "init(sweepy=...)", "run.log_code"):
        assert sum(f"wandb's {name} is not supported" in s for s in said) == 1, said
    assert len(said) == 5
    with pytest.raises(AttributeError):
        wandb.no_such_name  # noqa: B018 - not one of wandb's names either


def test_wandbs_names_keep_import_lernkurve_free_of_torch():
    code = (
        "import sys, warnings; warnings.simplefilter('ignore'); import lernkurve as wandb\n"
        "wandb.config, wandb.summary, wandb.run, wandb.log, wandb.Image, wandb.Artifact\n"
        "print(sorted(m for m in ('torch', 'sqlalchemy', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_the_native_init_still_returns_a_run_and_module_calls_follow_it(db_path):
    import lernkurve

    script = "run = lernkurve.init(config={'lr': 0.1}, live=['lr'], db=db, system_metrics=False)"
    here = {"lernkurve": lernkurve, "db": db_path}  # a module that imported lernkurve as such
    exec(script, here)
    run = here["run"]
    assert type(run) is Run and lernkurve.run.id == str(run.id)
    lernkurve.log({"loss": 1.0})
    lernkurve.finish()
    assert run.status == "completed" and lernkurve.run is None


def loss_points(db_path, run_id: str) -> dict[int, float]:
    db = client.open_database(db_path)
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(Metric.step, Metric.value).where(
                Metric.run_id == int(run_id), Metric.key == "loss"
            )
        )
        return dict(rows.all())


def test_resume_by_wandb_id_continues_the_run_where_it_stopped(db_path):
    first = wandb.init(project="p", config={"lr": 0.1}, db=db_path, system_metrics=False)
    for loss in (3.0, 2.0):
        wandb.log({"loss": loss})
    wandb.finish(exit_code=1)  # failed (a crash, a kill: interrupted): it can go on
    again = wandb.init(id=first.id, resume="must", db=db_path, system_metrics=False)
    assert again.id == first.id and again.resumed and again.step == 2
    wandb.log({"loss": 1.0})
    wandb.finish()
    assert loss_points(db_path, first.id) == {0: 3.0, 1: 2.0, 2: 1.0}
    fresh = wandb.init(id="999", resume="allow", db=db_path, system_metrics=False)
    assert fresh.id != first.id and not fresh.resumed
    fresh.finish()
    with pytest.raises(wandb.ResumeError, match="no run '998'"):
        wandb.init(id="998", resume="must", db=db_path, system_metrics=False)
    with pytest.raises(wandb.ResumeError, match="completed"):  # as Lernkurve's own resume
        wandb.init(id=first.id, resume="allow", db=db_path, system_metrics=False)


def test_finish_with_an_exit_code_marks_the_run_failed(db_path):
    run = wandb.init(project="p", db=db_path, system_metrics=False)
    wandb.finish(exit_code=3)
    with client.open_database(db_path).Session() as session:
        row = session.get(RunRow, int(run.id))
    assert row.status == "failed" and "exit_code=3" in row.error


def test_a_stop_from_the_app_ends_the_script_as_ctrl_c_would(db_path):
    run = wandb.init(project="p", db=db_path, system_metrics=False)
    db = run.lernkurve.db
    with db.Session() as session:
        session.add(Command(run_id=int(run.id), kind="stop", payload={}))
        session.commit()
    deadline = time.monotonic() + 20
    with pytest.raises(Stopped):
        while time.monotonic() < deadline:
            wandb.log({"loss": 1.0})
            time.sleep(0.01)
    assert wandb.run is None
    with db.Session() as session:
        assert session.get(RunRow, int(run.id)).status == "stopped"
        kinds = session.scalars(select(Event.kind).where(Event.run_id == int(run.id))).all()
    assert "stop" in kinds


def test_the_project_is_a_tag_the_runs_list_filters_by(db_path, api):
    run = wandb.init(project="mnist", tags=["baseline"], config={"lr": 0.1}, db=db_path)
    wandb.log({"loss": 1.0})
    wandb.finish()
    (row,) = api.get("/api/runs?tag=project:mnist").get_json()["runs"]
    assert row["id"] == int(run.id) and row["tags"] == ["project:mnist", "baseline"]
    assert row["config"]["project"] == "mnist"
