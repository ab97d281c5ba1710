"""What a run was started from: command line, folder, git commit, versions, host, devices."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path


def run_context() -> dict:
    """Captured once at init; shown in the run's About panel and in the API (config.context)."""
    return {
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "git": git_state(_script_folder()),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "cuda": _cuda_version(),
        "host": socket.gethostname(),
        "devices": _devices(),
    }


def builtin_context(task: str) -> dict:
    """A built-in run's context: the app that trained it and where (it has no script, command
    line or repository of its own)."""
    from lernkurve import __version__

    return {
        "app": f"Lernkurve {__version__}",
        "task": task,
        "python": platform.python_version(),
        "torch": _version("torch"),
        "cuda": _cuda_version(),
        "host": socket.gethostname(),
        "devices": _devices(),
    }


def _script_folder() -> Path:
    script = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    return Path(script).resolve().parent if script else Path.cwd()


def git_state(folder: Path) -> dict | None:
    """{"commit", "branch", "dirty"} of the repository holding folder; None outside one.

    One ``git status`` call gives all three (a run appears in the app only after this).
    """
    command = ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"]
    try:
        out = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=3)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    heads = dict(
        line[2:].split(" ", 1) for line in out.stdout.splitlines() if line.startswith("# ")
    )
    commit = heads.get("branch.oid")
    if commit in (None, "(initial)"):
        return None
    changed = any(not line.startswith("#") for line in out.stdout.splitlines())
    return {"commit": commit, "branch": heads.get("branch.head"), "dirty": changed}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cuda_version() -> str | None:
    torch = sys.modules.get("torch")  # only what the script itself imported: no 0.7 s import
    return getattr(getattr(torch, "version", None), "cuda", None) if torch else None


def _devices() -> list[str]:
    torch = sys.modules.get("torch")
    names = ["cpu"]
    if torch is not None and torch.cuda.is_available():
        names += [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return names
