"""wandb's module-level calls on the current run: ``lernkurve.log``, ``lernkurve.config``,
``lernkurve.summary``, ``lernkurve.watch``, ``lernkurve.finish`` ... and ``lernkurve.run``."""

from __future__ import annotations

import enum
from typing import Any

from lernkurve.tracking.livevalues import LiveConfig
from lernkurve.tracking.wandbsurface import current
from lernkurve.tracking.wandbsurface.config import WandbConfig
from lernkurve.tracking.wandbsurface.summary import Summary


class Error(Exception):
    """wandb's ``wandb.Error``: a call that needs a run before ``init``."""


class AlertLevel(enum.Enum):
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


def _run(what: str) -> Any:
    run = current.get()
    if run is None:
        raise Error(f"You must call lernkurve.init() before lernkurve.{what}()")
    return run


def log(
    data: dict, step: int | None = None, commit: bool | None = None, sync: bool | None = None
) -> None:
    """Log values at wandb's step (runview.WandbRun.log)."""
    _run("log").log(data, step=step, commit=commit)


def watch(
    models: Any,
    criterion: Any = None,
    log: str | None = "gradients",
    log_freq: int = 1000,
    idx: int | None = None,
    log_graph: bool = False,
) -> None:
    """Gradient health and steering for the optimizer that steps ``models``."""
    _run("watch").watch(models, criterion, log=log, log_freq=log_freq)


def unwatch(models: Any = None) -> None:
    """Stop measuring gradients."""
    run = current.get()
    if run is not None:
        run.unwatch(models)


def define_metric(
    name: str,
    step_metric: str | None = None,
    step_sync: bool | None = None,
    hidden: bool | None = None,
    summary: str | None = None,
    goal: str | None = None,
    overwrite: bool | None = None,
) -> None:
    """Which of ``name``'s values the summary keeps (``min``, ``max``, ``mean`` ...)."""
    _run("define_metric").define_metric(
        name, step_metric=step_metric, hidden=hidden, summary=summary, goal=goal
    )


def alert(title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
    """A note event on the current run."""
    _run("alert").alert(title, text, level=level)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """End the current run (failed for an exit code other than 0); nothing without one."""
    run = current.get()
    if run is not None:
        run.finish(exit_code=exit_code)


class _Current:
    """Stands for the current run's ``config`` or ``summary`` (before ``init``: its own)."""

    def __init__(self, attr: str, spare: Any) -> None:
        object.__setattr__(self, "_attr", attr)
        object.__setattr__(self, "_spare", spare)

    def _target(self) -> Any:
        run = current.get()
        return getattr(run, self._attr) if run is not None else self._spare

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._target(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target(), name, value)

    def __getitem__(self, key: str) -> Any:
        return self._target()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._target()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._target()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._target()

    def __iter__(self):
        return iter(self._target())

    def __len__(self) -> int:
        return len(self._target())

    def __repr__(self) -> str:
        return repr(self._target())


config = _Current("config", WandbConfig(LiveConfig()))
summary = _Current("summary", Summary())


def __getattr__(name: str) -> Any:
    if name == "run":
        return current.get()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
