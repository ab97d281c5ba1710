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


def _script_folder() -> Path:
    script = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    return Path(script).resolve().parent if script else Path.cwd()


def git_state(folder: Path) -> dict | None:
    """{"commit", "branch", "dirty"} of the repository holding folder; None outside one."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=folder, capture_output=True, text=True, timeout=3
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(status),
    }


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
