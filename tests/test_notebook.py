"""lernkurve in a real Jupyter kernel (nbclient + ipykernel): the app served from the kernel,
the dashboard in the output cell, steering over REST into a running cell, an interrupted cell
ending its run as `stopped`, a re-run starting a new run and the kernel's end ending it."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import sys
import threading
from pathlib import Path

import pytest

from support import Api, wait_for

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

pytestmark = pytest.mark.timeout(240)

KERNEL = "lernkurve-venv"
STEERED_LR = 0.025

INIT = """import lernkurve
run = lernkurve.init(config={{"lr": 0.1}}, live=["lr"], db={db!r}, system_metrics=False)
run"""

TRAIN = """import time
import torch
torch.manual_seed(0)
model = torch.nn.Linear(4, 1)
opt = torch.optim.SGD(model.parameters(), lr=run.config["lr"])
run.watch(model, opt)
x, y = torch.randn(64, 4), torch.randn(64, 1)
with open({lr_file!r}, "a") as out:
    for step in run.steps(1_000_000):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.write(f"{{step}} {{opt.param_groups[0]['lr']}}\\n")
        out.flush()
        run.log(step, loss=loss.item())
        time.sleep(0.01)"""

SHORT = """for step in run.steps(3):
    run.log(step, loss=0.5)"""


@pytest.fixture
def kernel_name(tmp_path, monkeypatch) -> str:
    """A kernelspec running this venv's Python, found through JUPYTER_PATH."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "lernkurve venv", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return KERNEL


def lr_lines(path: Path) -> list[tuple[int, float]]:
    """(step, lr at optimizer.step()) as the training cell wrote them."""
    if not path.exists():
        return []
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(int(step), float(lr)) for step, lr in (r for r in rows if len(r) == 2)]


def interrupt(km) -> None:
    """Interrupt the kernel from this thread (nbclient's manager may be asynchronous)."""
    result = km.interrupt_kernel()
    if inspect.isawaitable(result):
        asyncio.run(result)


def text_of(cell) -> str:
    """Everything a cell showed: streams, results and displays (text/html included)."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts.extend(str(data.get(kind, "")) for kind in ("text/html", "text/plain"))
        parts.extend(output.get("traceback", []))
    return "\n".join(parts)


def test_a_notebook_steers_is_interrupted_and_reruns(tmp_path, data_dir, kernel_name):
    from lernkurve.launch import build_app
    from lernkurve.store import servers
    from lernkurve.store.database import Database

    db = str(tmp_path / "notebook.db")
    url = Database.url_for(db)
    lr_file = tmp_path / "lr.txt"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(INIT.format(db=db)),
        nbformat.v4.new_code_cell(TRAIN.format(lr_file=str(lr_file))),
        nbformat.v4.new_code_cell(INIT.format(db=db)),  # the init cell, run again
        nbformat.v4.new_code_cell(SHORT),
        nbformat.v4.new_code_cell(INIT.format(db=db)),  # and again: the open run ends first
    ]
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel_name, timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    )
    seen: dict = {}
    failures: list[BaseException] = []

    def steer_then_interrupt() -> None:
        try:
            record = wait_for(lambda: servers.read(url), timeout=60)
            api = Api(record["url"], record["token"])  # the server the kernel started
            run_id = seen["run"]
            wait_for(lambda: len(lr_lines(lr_file)) >= 5, timeout=90)
            answer = api.patch(
                f"/api/runs/{run_id}/hparams", json={"lr": STEERED_LR, "lr_mode": "override"}
            )
            assert answer.status_code == 200, answer.get_json()
            wait_for(lambda: lr_lines(lr_file)[-1][1] == pytest.approx(STEERED_LR), timeout=30)
            wait_for(lambda: len(lr_lines(lr_file)) >= 5 + 5, timeout=30)
            seen["logged"] = len(api.points(run_id, "loss"))
        except BaseException as err:  # noqa: BLE001 - failed in the main thread below
            failures.append(err)
        finally:
            interrupt(client.km)

    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)
        record = servers.read(url)
        assert record is not None, "the kernel serves the app for its database"
        api = Api(record["url"], record["token"])
        (first,) = api.runs()
        seen["run"] = first["id"]
        shown = text_of(nb.cells[0])
        address = f"{record['url']}/?token={record['token']}#/run/{first['id']}"
        assert f'<iframe src="{address}" width="100%"' in shown

        helper = threading.Thread(target=steer_then_interrupt)
        helper.start()
        with pytest.raises(nbclient.exceptions.CellExecutionError) as err:
            client.execute_cell(nb.cells[1], 1)
        helper.join(30)
        if failures:
            raise failures[0]
        assert "KeyboardInterrupt" in str(err.value)
        assert "stopped (interrupted)" in text_of(nb.cells[1])

        run = api.wait_status(first["id"], "stopped", timeout=10)
        written = lr_lines(lr_file)
        points = api.points(first["id"], "loss")
        assert len(points) >= seen["logged"]  # the last points are kept
        assert max(point[0] for point in points) >= written[-1][0] - 1
        assert written[0][1] == pytest.approx(0.1)
        assert written[-1][1] == pytest.approx(STEERED_LR)  # the steered lr at the optimizer
        assert run["hparams"]["lr"] == pytest.approx(STEERED_LR)

        client.execute_cell(nb.cells[2], 2)
        client.execute_cell(nb.cells[3], 3)
        runs = {r["id"]: r for r in api.runs()}
        assert len(runs) == 2
        (second,) = set(runs) - {first["id"]}
        assert runs[first["id"]]["status"] == "stopped"
        assert runs[second]["status"] == "running"  # open until the kernel ends
        assert f"#/run/{second}" in text_of(nb.cells[2])

        client.execute_cell(nb.cells[4], 4)
        assert f"run {second} ended as completed" in text_of(nb.cells[4])  # its steps ran
        assert api.run(second)["status"] == "completed"
        (third,) = {r["id"] for r in api.runs()} - {first["id"], second}
        assert api.run(third)["status"] == "running"

    # The kernel has shut down: nothing it ran is left `running`.
    after = Api(build_app({"DATABASE": db, "TOKEN": "t", "START_WORKER": False}), "t")
    statuses = {r["id"]: r["status"] for r in after.runs()}
    assert statuses == {first["id"]: "stopped", second: "completed", third: "stopped"}
    assert len(after.points(second, "loss")) == 3
    assert servers.read(url) is None  # the kernel's server took its record along


def test_the_runs_rich_display_is_its_dashboard(tmp_path, data_dir):
    from lernkurve import launch
    from lernkurve.store import servers
    from lernkurve.tracking.client import init

    run = init(config={"lr": 0.1}, live=["lr"], db=tmp_path / "shown.db", system_metrics=False)
    try:
        shown = run._repr_html_()
        record = servers.read(run.db.url)
        assert record is not None
        src = re.search(r'<iframe src="([^"]+)" width="100%" height="600"', shown).group(1)
        assert src == f"{record['url']}/?token={record['token']}#/run/{run.id}"
        assert 'height="300"' in run_html(run, 300)
        # a second display finds the same server, not a new one
        assert run._repr_html_() == shown
    finally:
        run.finish()
        launch.stop_background(run.db.url)


def run_html(run, height: int) -> str:
    from lernkurve.tracking import notebook

    return notebook.iframe_html(run, height)


def test_a_wandb_style_run_displays_as_the_same_dashboard(tmp_path, data_dir):
    from lernkurve import launch
    from lernkurve.tracking.wandbsurface.entry import init

    run = init(project="nb", config={"lr": 0.1}, db=tmp_path / "wandb.db", system_metrics=False)
    try:
        assert run._repr_html_() == run.lernkurve._repr_html_()
        assert f"#/run/{run.id}" in run._repr_html_()
    finally:
        run.finish()
        launch.stop_background(run.lernkurve.db.url)
