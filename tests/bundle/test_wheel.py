"""The wheel, installed into a fresh virtualenv: a script outside the checkout is watched and
obeys a `lernkurve serve` from the same install. The new venv borrows the test venv's packages
(torch included) through a .pth file, so nothing is downloaded."""

from __future__ import annotations

import re
import site
import subprocess
import sys
import time

import pytest

from support import ROOT, TOKEN, Api

pytestmark = pytest.mark.bundle

SCRIPT = """
import sys, time
import lernkurve
print("from", lernkurve.__file__, flush=True)
with lernkurve.init(name="outside", config={"lr": 0.1}, live=["lr"]) as run:
    print("run", run.id, flush=True)
    for step in run.steps(100_000):
        run.log(step, loss=1.0 / (step + 1))
        time.sleep(0.005)
print("ended", run.status, flush=True)
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv holding only the wheel (the test venv's packages visible beneath it)."""
    work = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "--wheel-dir", str(work), str(ROOT)], check=True, timeout=300)
    wheel = next(work.glob("lernkurve-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip()
    (venv / purelib / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    pip = [python, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet"]
    subprocess.run([*pip, str(wheel)], check=True, timeout=300)
    return venv, work


def test_lernkurve_help_lists_the_commands(installed):
    venv, _ = installed
    out = subprocess.run([venv / "bin" / "lernkurve", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("serve", "train", "import-tb"):
        assert f"  {command}" in out.stdout


def test_a_script_outside_the_checkout_is_watched_and_obeys_the_installed_server(installed):
    venv, work = installed
    outside = work / "elsewhere"
    outside.mkdir()
    env = {"PATH": str(venv / "bin"), "LERNKURVE_DB": str(outside / "runs.db"), "HOME": str(work)}
    env["LERNKURVE_DATA_DIR"] = str(outside / "data")
    server = subprocess.Popen(
        [venv / "bin" / "lernkurve", "serve", "--port", "0", "--token", TOKEN],
        cwd=outside,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    (outside / "train.py").write_text(SCRIPT)
    script = subprocess.Popen(
        [venv / "bin" / "python", "train.py"],
        cwd=outside,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base = re.search(r"(http://127\.0\.0\.1:\d+)/", server.stdout.readline()).group(1)
        where = script.stdout.readline()
        assert where.startswith(f"from {venv}") and str(ROOT) not in where
        run_id = int(script.stdout.readline().split()[1])
        api = Api(base)
        assert b"node_modules/chart.js" in api.get("/").data  # the pages came with the wheel
        api.wait_step(run_id, 6)
        api.control(run_id, "pause")
        held = api.wait_status(run_id, "paused")["step"]
        time.sleep(0.5)
        assert api.run(run_id)["step"] == held
        api.control(run_id, "stop")
        assert script.wait(20) == 0
        assert script.stdout.read().strip() == "ended stopped"
    finally:
        for proc in (script, server):
            if proc.poll() is None:
                proc.terminate()
            proc.wait(10)
            proc.stdout.close()


PUBLIC_PATHS = """
import lernkurve
assert callable(lernkurve.init)
assert lernkurve.Run and lernkurve.HParamError and lernkurve.ResumeError
from lernkurve.tensorboard import SummaryWriter, import_logdir
from lernkurve.integrations.hf import LernkurveCallback
from lernkurve.integrations.lightning import LernkurveCallback, LernkurveLogger
print("ok", lernkurve.__file__)
"""


def test_every_public_import_path_works_from_the_wheel(installed):
    venv, work = installed
    outside = work / "paths"  # not the checkout: only the installed wheel can answer
    outside.mkdir(exist_ok=True)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [python, "-c", PUBLIC_PATHS], cwd=outside, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert str(venv) in done.stdout  # the installed package, not the checkout's
    for command in (
        [python, "-m", "lernkurve.tensorboard", "import", "--help"],
        [venv / "bin" / "lernkurve", "--version"],
    ):
        done = subprocess.run(command, cwd=outside, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
