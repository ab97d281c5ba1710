"""The layers hold (import-linter's contracts in pyproject.toml), and crossing one is caught."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from support import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=folder, capture_output=True, text=True, timeout=120
    )


def test_every_contract_is_kept():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def crossed(tmp_path: Path, module: str, line: str) -> subprocess.CompletedProcess:
    """The package copied, ``line`` added to ``module``, and the contracts checked."""
    shutil.copytree(
        ROOT / "lernkurve", tmp_path / "lernkurve", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    path = tmp_path / "lernkurve" / module
    path.write_text(path.read_text() + f"\n{line}\n")
    return lint_imports(tmp_path)


def test_the_web_side_importing_the_training_client_breaks_a_contract(tmp_path):
    done = crossed(tmp_path, "web/app.py", "from lernkurve.tracking import run  # noqa: F401")
    assert done.returncode != 0
    assert "lernkurve.web is not allowed to import lernkurve.tracking" in done.stdout


def test_the_store_importing_the_training_side_breaks_a_contract(tmp_path):
    done = crossed(tmp_path, "store/queries.py", "from lernkurve.tracking import run  # noqa: F401")
    assert done.returncode != 0
    assert "lernkurve.store is not allowed to import lernkurve.tracking" in done.stdout


def test_a_circle_hidden_behind_type_checking_breaks_a_contract(tmp_path):
    line = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from lernkurve.tracking.run import Run"
    )
    done = crossed(tmp_path, "tracking/writer.py", line)
    assert done.returncode != 0
    assert "No cycles are allowed in lernkurve.tracking" in done.stdout
