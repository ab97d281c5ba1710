"""The wheel, installed into a fresh virtualenv: a script outside the checkout is watched and
obeys a `lernkurve serve` from the same install. The new venv borrows the test venv's packages
(torch included) through a .pth file, so nothing is downloaded."""

from __future__ import annotations

import json
import re
import site
import subprocess
import sys
import time
import urllib.request

import pytest

from support import ROOT, TOKEN, wait_for

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


def call(base: str, method: str, path: str, body: dict | None = None):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


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
        with urllib.request.urlopen(base + "/", timeout=10) as page:
            assert b"node_modules/chart.js" in page.read()  # the pages came with the wheel
        wait_for(lambda: call(base, "GET", f"/api/runs/{run_id}")["step"] > 5)
        call(base, "POST", f"/api/runs/{run_id}/control", {"action": "pause"})
        held = wait_for(
            lambda: (r := call(base, "GET", f"/api/runs/{run_id}"))["status"] == "paused" and r
        )["step"]
        time.sleep(0.5)
        assert call(base, "GET", f"/api/runs/{run_id}")["step"] == held
        call(base, "POST", f"/api/runs/{run_id}/control", {"action": "stop"})
        assert script.wait(20) == 0
        assert script.stdout.read().strip() == "ended stopped"
    finally:
        for proc in (script, server):
            if proc.poll() is None:
                proc.terminate()
            proc.wait(10)
            proc.stdout.close()
