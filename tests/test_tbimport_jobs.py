"""TensorBoard imports as jobs: progress while they run, cancel, the bounds of the walk, and
imports of one folder at once (threads, jobs of the app, processes) storing each point once."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("tensorboard")

from sqlalchemy import select, text, update  # noqa: E402
from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: E402
from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: E402

from lernkurve.importers import runs  # noqa: E402
from lernkurve.importers.tensorboard import Limits, run_import  # noqa: E402
from lernkurve.store.columns import columns_of  # noqa: E402
from lernkurve.store.database import Database  # noqa: E402
from lernkurve.store.models import RunRow  # noqa: E402
from support import ROOT, wait_for  # noqa: E402


@pytest.fixture
def db(db_path):
    database = Database(db_path)
    yield database
    database.dispose()


def write_run(folder: Path, steps=range(100), suffix: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(folder), filename_suffix=suffix)
    for step in steps:
        value = summary_pb2.Summary.Value(tag="loss", simple_value=1.0 / (step + 1))
        summary = summary_pb2.Summary(value=[value])
        writer.add_event(event_pb2.Event(step=step, wall_time=1.7e9 + step, summary=summary))
    writer.close()


def point_counts(db) -> dict[str, tuple[int, int]]:
    """Per run name: points stored, distinct (key, step) among them."""
    sql = (
        "SELECT r.name, count(m.id), count(DISTINCT m.key || ':' || m.step) FROM runs r"
        " LEFT JOIN metrics m ON m.run_id = r.id GROUP BY r.name"
    )
    with db.engine.connect() as conn:
        return {name: (n, distinct) for name, n, distinct in conn.execute(text(sql))}


def start(api, body: dict) -> str:
    response = api.post("/api/import/tensorboard", json=body)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["job"]["id"]


def job(api, job_id: str) -> dict:
    return api.get(f"/api/import/tensorboard/{job_id}").get_json()["job"]


def ended(api, job_id: str, timeout: float = 60.0) -> dict:
    return wait_for(lambda: (j := job(api, job_id))["state"] != "running" and j, timeout)


def test_three_imports_of_one_folder_at_once_store_each_point_once(db, tmp_path):
    logs = tmp_path / "logs"
    write_run(logs / "a", steps=range(20_000))
    write_run(logs / "b", steps=range(7_000))
    barrier, reports = threading.Barrier(3), []

    def one():
        barrier.wait()
        reports.append(run_import(logs, db))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(reports) == 3 and all(r.errors == [] for r in reports)
    assert point_counts(db) == {"logs/a": (20_000, 20_000), "logs/b": (7_000, 7_000)}
    for name in ("logs/a", "logs/b"):
        added = sum(run["added"] for r in reports for run in r.runs if run["name"] == name)
        assert added == {"logs/a": 20_000, "logs/b": 7_000}[name]


def test_three_jobs_of_the_app_and_three_processes_at_once_store_each_point_once(
    api, db_path, tmp_path
):
    logs = tmp_path / "logs"
    write_run(logs / "a", steps=range(20_000))
    ids = [start(api, {"logdir": str(logs)}) for _ in range(3)]
    command = [sys.executable, "-m", "lernkurve.cli", "import-tb", str(logs), "--db", str(db_path)]
    procs = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    jobs = [ended(api, job_id) for job_id in ids]
    assert all(j["state"] == "done" and j["errors"] == [] for j in jobs)
    added = sum(j["runs"][0]["added"] for j in jobs)
    for out, _ in outputs:
        added += int(out.decode().split(", ")[1].split()[0])
    assert added == 20_000
    [run] = api.runs()
    points = api.get(f"/api/runs/{run['id']}/metrics?keys=loss").get_json()["series"]["loss"]
    assert len(points) == 20_000 and len({p[0] for p in points}) == 20_000
    assert run["status"] == "completed" and run["step"] == 19_999


def test_the_walk_stops_at_its_bounds_and_the_answer_names_them(api, tmp_path):
    logs = tmp_path / "logs"
    for name in "abcde":
        write_run(logs / name, steps=range(10))
    few = ended(api, start(api, {"logdir": str(logs), "max_files": 3}))
    assert few["state"] == "done" and few["bound"]["name"] == "max_files"
    assert "3 event files (max_files)" in few["message"]
    assert [r["name"] for r in few["runs"]] == ["logs/a", "logs/b", "logs/c"]
    assert few["limits"]["max_files"] == 3 and few["limits"]["max_seconds"] == 600
    small = ended(api, start(api, {"logdir": str(logs), "max_bytes": 1}))
    assert small["bound"]["name"] == "max_bytes" and "max_bytes" in small["message"]
    assert [r["added"] for r in small["runs"]] == [0, 0, 0]  # nothing new to read in a-c
    whole = ended(api, start(api, {"logdir": str(logs)}))
    assert whole["bound"] is None and [r["added"] for r in whole["runs"]] == [0, 0, 0, 10, 10]
    command = [
        sys.executable,
        "-m",
        "lernkurve.cli",
        "import-tb",
        str(tmp_path),
        "--max-files",
        "2",
    ]
    done = subprocess.run(
        command + ["--db", str(api.client.application.config["DATABASE"])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "2 event files (max_files)" in done.stderr


def test_entries_past_the_bound_stop_a_walk_of_a_huge_tree(db, tmp_path):
    limits = Limits(max_files=1)  # looks at up to 100 entries
    for n in range(150):
        (tmp_path / f"d{n:03}").mkdir()
    report = run_import(tmp_path, db, limits)
    assert report.bound["name"] == "max_files" and "100 entries" in report.bound["message"]


class Gate:
    """Stops each batch of points an import writes until the test lets it pass."""

    def __init__(self) -> None:
        self.arrived: queue.Queue = queue.Queue()
        self.passes: queue.Queue = queue.Queue()
        self.opened = False

    def write_points(self, real, *args, **kwargs) -> None:
        real(*args, **kwargs)
        if not self.opened:
            self.arrived.put(True)
            assert self.passes.get(timeout=60)

    def wait(self) -> None:
        assert self.arrived.get(timeout=30)

    def let_one_pass(self) -> None:
        self.passes.put(True)

    def open(self) -> None:
        self.opened = True
        for _ in range(10):
            self.passes.put(True)


@pytest.fixture
def gate(monkeypatch):
    gate, real = Gate(), runs.write_points
    monkeypatch.setattr(runs, "write_points", lambda *a, **k: gate.write_points(real, *a, **k))
    gate.opened = True
    yield gate
    gate.open()


def kept(run: dict) -> dict:
    return {key: run[key] for key in ("name", "status", "step", "started_at", "ended_at")}


def test_an_import_shows_progress_and_a_cancel_puts_the_run_back(api, tmp_path, gate):
    logs = tmp_path / "logs"
    write_run(logs / "a", steps=range(10))
    write_run(logs / "b", steps=range(30_000))
    assert ended(api, start(api, {"logdir": str(logs)}))["state"] == "done"
    write_run(logs / "a", steps=range(10, 20), suffix=".more")
    write_run(logs / "b", steps=range(30_000, 60_000), suffix=".more")
    before = {r["name"]: kept(r) for r in api.runs()}

    gate.opened = False
    job_id = start(api, {"logdir": str(logs)})
    gate.wait()  # a's 10 new points are being written
    running = job(api, job_id)
    progress = running["progress"]
    assert running["state"] == "running" and progress["current"] == "logs/a"
    assert progress["files_found"] == 4 and progress["runs_found"] == 2
    assert progress["phase"] == "importing" and running["runs"] == []
    gate.let_one_pass()
    gate.wait()  # b's first 5,000 new points are in: b is half imported
    assert job(api, job_id)["progress"]["points"] == 10
    assert {r["name"]: r["status"] for r in api.runs()}["logs/b"] == "running"
    response = api.delete(f"/api/import/tensorboard/{job_id}")
    assert response.status_code == 202 and response.get_json()["job"]["cancel_requested"]
    gate.open()
    cancelled = ended(api, job_id)
    assert cancelled["state"] == "cancelled" and cancelled["cancelled"]
    assert [(r["name"], r["added"]) for r in cancelled["runs"]] == [("logs/a", 10)]
    assert "cancelled" in cancelled["message"]
    after = {r["name"]: r for r in api.runs()}
    assert kept(after["logs/b"]) == before["logs/b"]  # as it was before this import
    loss = api.get(f"/api/runs/{after['logs/b']['id']}/metrics?keys=loss").get_json()
    assert len(loss["series"]["loss"]) == 30_000
    assert api.delete(f"/api/import/tensorboard/{job_id}").status_code == 200
    listed = api.get("/api/import/tensorboard").get_json()["jobs"]
    assert [j["id"] for j in listed][:1] == [job_id]
    again = ended(api, start(api, {"logdir": str(logs)}))
    assert [r["added"] for r in again["runs"]] == [0, 30_000]


def test_a_run_held_by_another_import_is_waited_for_within_max_seconds(db, tmp_path):
    logs = tmp_path / "logs"
    write_run(logs, steps=range(10))
    index = runs.load_index(db)
    claim = runs.claim_run(db, index, str(logs.resolve()), "logs", "someone-else")
    try:
        report = run_import(logs, db, Limits(max_seconds=0.5))
        assert report.bound["name"] == "max_seconds" and "max_seconds" in report.message()
        assert report.runs == []
    finally:
        runs.put_back(db, claim, index, str(logs.resolve()))
    assert run_import(logs, db).runs[0]["added"] == 10


def test_a_dead_imports_half_run_is_put_back_and_imported_whole(db, tmp_path):
    logs = tmp_path / "logs"
    write_run(logs, steps=range(100))
    run_import(logs, db)
    write_run(logs, steps=range(100, 200), suffix=".more")
    index = runs.load_index(db)
    claim = runs.claim_run(db, index, str(logs.resolve()), "logs", "crashed")
    runs.write_points(db, claim, columns_of([(s, 0.0, {"loss": 9.0}) for s in range(100, 150)]))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    with db.write() as conn:  # as if the import had run in that process, now gone
        config = conn.execute(select(RunRow.config)).scalar()
        config["pid"] = config[runs.CLAIM]["pid"] = int(gone.stdout)
        conn.execute(update(RunRow).values(config=config))
    runs._held.discard("crashed")
    [run] = run_import(logs, db).runs
    assert run["added"] == 100
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT step, value FROM metrics WHERE step >= 100")).all()
    assert len(rows) == 100 and all(value != 9.0 for _, value in rows)


def test_the_command_line_names_each_bad_file_with_its_offset(db_path, tmp_path):
    logs = tmp_path / "logs"
    write_run(logs / "good", steps=range(3))
    (logs / "bad").mkdir()
    (logs / "bad" / "events.out.tfevents.1.x").write_bytes(b"\x00" * 40)
    os.mkfifo(logs / "good" / "events.out.tfevents.2.fifo")
    command = [sys.executable, "-m", "lernkurve.tensorboard", "import", str(logs)]
    done = subprocess.run(
        command + ["--db", str(db_path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert re.fullmatch(r"run \d+ logs/good: imported, 3 points added", done.stdout.strip())
    assert "not imported: logs/bad: " in done.stderr and "x at byte 0: " in done.stderr
    assert "events.out.tfevents.2.fifo: a FIFO, not a regular file: not read" in done.stderr
    assert "done in" in done.stderr
