"""A real torchrun job (2 ranks, gloo, CPU) watched and steered through the app's REST API.

Each rank of tests/scripts/ddp_steered.py records what its optimizer really used at every
optimizer.step() and hashes its parameters at the end; the tests compare the ranks.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import ROOT, wait_for

pytestmark = pytest.mark.torchrun

SCRIPT = ROOT / "tests" / "scripts" / "ddp_steered.py"
TORCHRUN = Path(sys.executable).parent / "torchrun"
START = 120  # seconds: two ranks import torch on a busy 2-core machine


class Job:
    def __init__(self, proc: subprocess.Popen, out: Path) -> None:
        self.proc, self.out = proc, out
        line = proc.stdout.readline()
        assert line.startswith("run "), line + (out / "stderr").read_text()
        self.run_id = int(line.split()[1])

    def records(self, rank: int) -> list[dict]:
        path = self.out / f"rank{rank}.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines if line.endswith("}")]

    def read(self, name: str) -> str:
        return (self.out / name).read_text()

    def exit_code(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        assert code == 0, (self.out / "stderr").read_text()[-3000:]
        return code


@pytest.fixture
def job(db_path, data_dir, tmp_path):
    """Start ddp_steered.py under torchrun against the test's database."""
    env = {**os.environ, "LERNKURVE_DB": str(db_path), "LERNKURVE_DATA_DIR": str(data_dir)}
    env["PYTHONFAULTHANDLER"] = "1"  # a rank that aborts shows where each of its threads was
    procs = []

    def start(steps: int, delay: float, *extra: str) -> Job:
        out = tmp_path / f"job{len(procs)}"
        out.mkdir()
        command = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", str(SCRIPT)]
        with (out / "stderr").open("w") as stderr:
            proc = subprocess.Popen(
                [*command, str(out), str(steps), str(delay), *extra],
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,  # the ranks are torchrun's children: end them together
            )
        procs.append(proc)
        return Job(proc, out)

    yield start
    for proc in procs:  # torchrun ends its ranks on SIGTERM; a rank it lost is ended by its pid
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for path in tmp_path.glob("job*/pid*"):
            end_rank(int(path.read_text()), path.parent)
        proc.communicate()


def end_rank(pid: int, out: Path) -> None:
    """Kill a rank left behind, if that pid is still this job's rank (never a reused pid)."""
    try:
        if str(out).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError):
        pass


def wait_step(api, job: Job, step: int) -> None:
    wait_for(lambda: api.run(job.run_id)["step"] >= step, START)


def group_lr_wd(job: Job, rank: int) -> set:
    return {tuple(record["groups"][0]) for record in job.records(rank)}


def test_one_run_whose_changes_land_at_the_same_step_on_every_rank(api, job):
    j = job(100_000, 0.02)
    wait_step(api, j, 5)
    assert api.patch(f"/api/runs/{j.run_id}/hparams", json={"lr": 0.05}).status_code == 200
    wait_for(lambda: all((0.05, 1e-4) in group_lr_wd(j, rank) for rank in (0, 1)), 30)
    response = api.patch(f"/api/runs/{j.run_id}/hparams", json={"weight_decay": 1e-3})
    assert response.status_code == 200
    wait_for(lambda: all((0.05, 1e-3) in group_lr_wd(j, rank) for rank in (0, 1)), 30)
    assert api.control(j.run_id, "stop").status_code == 202
    assert j.exit_code() == 0

    runs = api.get("/api/runs").get_json()["runs"]
    assert len(runs) == 1  # rank 1 attached to rank 0's run
    run = api.run(j.run_id)
    assert run["status"] == "stopped"
    assert run["config"]["world_size"] == 2
    assert sum(len(ranks) for ranks in run["config"]["hosts"].values()) == 2
    first, second = j.records(0), j.records(1)
    assert first == second  # every step, every group: the same lr and weight decay
    assert first[-1]["groups"] == [[0.05, 1e-3], [0.05, 0.0]]  # the no-decay group stays at 0
    assert j.read("hash0") == j.read("hash1")  # the replicas are bitwise equal

    series = api.get(f"/api/runs/{j.run_id}/metrics").get_json()["series"]
    assert {"loss", "shard_loss/rank0", "shard_loss/rank1", "mean_loss"} <= set(series)
    step, value = series["mean_loss"][0][:2]
    shards = [dict((s, v) for s, v, _ in series[f"shard_loss/rank{r}"])[step] for r in (0, 1)]
    assert value == pytest.approx(sum(shards) / 2)
    assert shards[0] != shards[1]  # each rank's own batch


@pytest.mark.postgres
def test_an_lr_change_scales_the_scripts_own_schedule_on_every_rank_at_one_step(api, job):
    j = job(100_000, 0.02, "--decay", "0.995")
    wait_step(api, j, 5)
    assert api.patch(f"/api/runs/{j.run_id}/hparams", json={"lr": 0.05}).status_code == 200
    event = wait_for(lambda: api.events(j.run_id, "hparams"), 30)[0]
    scaled = lambda r: [x for x in j.records(r) if x["step"] > event["step"] + 3]  # noqa: E731
    wait_for(lambda: scaled(0) and scaled(1), 30)
    assert api.control(j.run_id, "stop").status_code == 202
    assert j.exit_code() == 0

    assert len(api.runs()) == 1
    first, second = j.records(0), j.records(1)
    assert first == second  # every step: the same schedule, the same lr in every group
    factor = event["payload"]["factor"]
    assert event["payload"]["mode"] == "scale" and factor != pytest.approx(1.0)
    changed_at = next(i for i, x in enumerate(first) if x["groups"][0][0] != x["schedule"])
    assert first[changed_at]["step"] == event["step"]
    for record in first:
        expected = record["schedule"] * (factor if record["step"] >= event["step"] else 1.0)
        lrs = [group[0] for group in record["groups"]]
        assert lrs == [pytest.approx(expected, rel=1e-12)] * 2, record
    assert len({x["schedule"] for x in first}) == len(first)  # the schedule moved every step
    assert j.read("hash0") == j.read("hash1")


def test_a_pause_outlasts_the_process_group_timeout(api, job):
    j = job(40, 0.02)
    wait_step(api, j, 3)
    assert api.control(j.run_id, "pause").status_code == 202
    api.wait_status(j.run_id, "paused", timeout=30)
    held = len(j.records(0)), len(j.records(1))
    time.sleep(8)  # the script's process group times out after 5 s
    assert j.proc.poll() is None
    assert (len(j.records(0)), len(j.records(1))) == held
    assert held[0] == held[1]
    assert api.control(j.run_id, "step").status_code == 202
    wait_for(lambda: min(len(j.records(0)), len(j.records(1))) == held[0] + 1, 30)
    assert api.control(j.run_id, "resume").status_code == 202
    assert j.exit_code() == 0
    assert api.run(j.run_id)["status"] == "completed"
    assert len(j.records(0)) == len(j.records(1)) == 40
    assert j.read("hash0") == j.read("hash1")


def test_a_checkpoint_is_written_once_and_every_rank_resumes_from_it(api, job, db_path):
    import torch

    from lernkurve.store.checkpoints import checkpoint_root
    from lernkurve.store.database import Database

    j = job(100_000, 0.02)
    wait_step(api, j, 5)
    assert api.control(j.run_id, "checkpoint").status_code == 202
    checkpoints = wait_for(
        lambda: api.get(f"/api/runs/{j.run_id}/checkpoints").get_json()["checkpoints"], 30
    )
    assert api.control(j.run_id, "stop").status_code == 202
    assert j.exit_code() == 0
    db = Database(db_path)
    files = list(checkpoint_root(db).rglob("*"))  # beside a SQLite file, else in the data dir
    db.dispose()
    assert [path.name for path in files if path.is_file()] == [Path(checkpoints[0]["path"]).name]
    assert len(api.events(j.run_id, "checkpoint")) == 1

    saved = torch.load(checkpoints[0]["path"], weights_only=True)
    weights = b"".join(
        saved["model"][name].numpy().tobytes()
        for name in ("weight", "bias")  # the plain module
    )
    again = job(checkpoints[0]["step"] + 5, 0.0, "--resume", str(j.run_id))
    assert again.run_id == j.run_id
    assert again.exit_code() == 0
    assert again.read("start0") == again.read("start1") == hashlib.sha256(weights).hexdigest()
    assert again.read("hash0") == again.read("hash1")
    assert api.run(j.run_id)["status"] == "completed"
    assert len(api.get("/api/runs").get_json()["runs"]) == 1


def test_a_single_rank_job_logs_per_rank_and_rank_zero_only_code_gets_its_own_run(
    db_path, tmp_path
):
    import torch.distributed as dist

    from lernkurve.store.database import Database
    from lernkurve.store.models import Metric
    from lernkurve.tracking import client, distributed

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        run = client.init(name="job", config={"lr": 0.1}, db=db_path, system_metrics=False)
        with distributed.this_rank_only():  # e.g. a framework's rank-zero callback
            alone = client.init(name="alone", db=db_path, system_metrics=False)
        assert isinstance(run, distributed.LeaderRun)
        assert not isinstance(alone, distributed.JobRun)
        for step in run.steps(3):
            run.log(step, all_ranks=True, loss=1.0 + step)
            run.log(step, all_ranks=True, reduce="max", top=2.0 * step)
        with pytest.raises(ValueError, match="reduce must be one of"):
            run.log(all_ranks=True, reduce="median", loss=1.0)
        run.finish()
        alone.finish()
    finally:
        dist.destroy_process_group()
    with Database(db_path).Session() as session:
        keys = {key for (key,) in session.query(Metric.key).filter(Metric.run_id == run.id)}
    assert {"loss/rank0", "top"} <= keys and "loss" not in keys


def test_a_job_lets_go_of_its_process_group_before_python_tears_down(db_path, tmp_path):
    """Else the group is freed in the interpreter's teardown, where gloo's threads can abort a
    rank that did everything right (SIGABRT, "terminate called without an active exception")."""
    script = ROOT / "tests" / "scripts" / "pg_exit.py"
    done = subprocess.run(
        [sys.executable, str(script), str(db_path), str(tmp_path / "pg")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "freed"
