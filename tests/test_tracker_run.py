"""What a run records besides its metrics: context, system metrics, grad health, text samples."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch
from sqlalchemy import select

from lernkurve.store.models import Metric, RunRow, Snapshot
from lernkurve.tracking import client
from lernkurve.tracking.gradhealth import QUANTILES


@pytest.fixture
def db(db_path):
    return client.open_database(db_path)


def rows(db, model, run_id: int, **filters) -> list:
    with db.Session() as session:
        query = select(model).where(model.run_id == run_id).filter_by(**filters)
        return session.scalars(query.order_by(model.id)).all()


def git(folder, *args: str) -> str:
    command = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t", *args]
    return subprocess.run(command, cwd=folder, check=True, capture_output=True, text=True).stdout


def test_a_script_in_a_git_repository_records_its_context_and_gets_a_readable_name(
    tmp_path, db_path
):
    repo = tmp_path / "project"
    repo.mkdir()
    script = repo / "train.py"
    script.write_text("import lernkurve\nrun = lernkurve.init(config={})\nrun.finish()\n")
    git(repo, "init", "-q")
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "first")
    for _ in range(2):
        subprocess.run([sys.executable, str(script), "--epochs", "3"], cwd=tmp_path, check=True,
                       env={"LERNKURVE_DB": str(db_path), "PATH": "/usr/bin:/bin"})  # fmt: skip
    db = client.open_database(db_path)
    with db.Session() as session:
        runs = session.scalars(select(RunRow).order_by(RunRow.id)).all()
    assert [run.name for run in runs] == ["train-1", "train-2"]
    context = runs[0].config["context"]
    assert context["git"] == {
        "commit": git(repo, "rev-parse", "HEAD").strip(), "branch": context["git"]["branch"],
        "dirty": False,
    }  # fmt: skip
    assert context["argv"] == [str(script), "--epochs", "3"] and context["cwd"] == str(tmp_path)
    assert context["torch"] == torch.__version__.split("+")[0] or context["torch"]
    assert context["python"] and context["host"] and context["devices"][0] == "cpu"


def test_system_metrics_appear_every_interval_and_stop_with_the_run(db):
    run = client.init(config={}, db=db.url, system_metrics=0.1)
    for step in run.steps(60):
        run.log(step, loss=1.0)
        time.sleep(0.01)
    run.finish()
    sampled = [m for m in rows(db, Metric, run.id) if m.key.startswith("sys/")]
    keys = {m.key for m in sampled}
    assert {"sys/cpu_percent", "sys/rss_mb", "sys/memory_percent"} <= keys
    assert len(sampled) >= 3 * 3
    time.sleep(0.4)
    assert len([m for m in rows(db, Metric, run.id) if m.key.startswith("sys/")]) == len(sampled)


def test_grad_norms_equal_clip_grad_norms_total_and_updates_are_measured(db):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    run = client.init(config={}, db=db.url, system_metrics=False)
    run.watch(model, optimizer, log_grads=2)
    expected = {}
    for step in run.steps(6):
        loss = model(torch.randn(16, 4)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        expected[step] = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf")).item()
        optimizer.step()
    run.finish()
    logged = {m.step: m.value for m in rows(db, Metric, run.id, key="grad/total_norm")}
    assert set(logged) == {0, 2, 4}
    assert all(logged[s] == pytest.approx(expected[s], rel=1e-5) for s in logged)
    ratios = [m for m in rows(db, Metric, run.id) if m.key == "update/ratio/0.weight"]
    assert [m.step for m in ratios] == [0, 2, 4] and all(0 < m.value < 1 for m in ratios)


def test_histogram_percentiles_match_torch_quantile(db):
    model = torch.nn.Linear(32, 16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    run = client.init(config={}, db=db.url, system_metrics=False)
    run.watch(model, optimizer, log_histograms=3)
    weights = {}
    for step in run.steps(4):
        model(torch.randn(8, 32)).sum().backward()
        weights[step] = model.weight.detach().clone()
        optimizer.step()
        optimizer.zero_grad()
    run.finish()
    shots = [
        s for s in rows(db, Snapshot, run.id, kind="distribution") if s.payload["name"] == "weight"
    ]
    assert [s.step for s in shots] == [0, 3]
    for shot in shots:
        want = torch.quantile(weights[shot.step].flatten(), torch.tensor(QUANTILES)).tolist()
        assert shot.payload["values"] == pytest.approx(want, rel=1e-6)
    grads = rows(db, Snapshot, run.id, kind="distribution")
    assert any(s.payload["name"] == "weight.grad" for s in grads)


def test_a_text_sample_round_trips(api, db_path):
    run = client.init(config={}, db=db_path, system_metrics=False)
    run.log_text("sample", "Once upon a time\nthe loss fell.", step=7)
    run.finish()
    shots = api.get(f"/api/runs/{run.id}/snapshots?kind=text").get_json()["snapshots"]
    assert [(s["step"], s["payload"]) for s in shots] == [
        (7, {"key": "sample", "text": "Once upon a time\nthe loss fell."})
    ]


def test_a_name_the_api_would_refuse_is_refused_by_init_before_any_row(db_path, db):
    with pytest.raises(ValueError, match="1 to 200 characters"):
        client.init("x" * 1_000_000, config={"lr": 0.1}, db=db_path, system_metrics=False)
    with pytest.raises(ValueError, match="1 to 200 characters"):
        client.init("   ", config={"lr": 0.1}, db=db_path, system_metrics=False)
    with db.Session() as session:
        assert session.scalars(select(RunRow)).all() == []
    run = client.init("y" * 200, config={"lr": 0.1}, db=db_path, system_metrics=False)
    run.finish()
    with db.Session() as session:
        assert session.get(RunRow, run.id).name == "y" * 200
