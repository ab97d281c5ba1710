"""The process's current run, as ``lernkurve.run`` and the module-level functions see it:
the one the last ``lernkurve.init`` started, until it ends."""

from __future__ import annotations

from typing import Any

_held: dict[str, Any] = {"run": None, "native": None}


def hold(run: Any) -> None:
    """A wandb-style run (or a disabled one) is now the current run."""
    _held.update(run=run, native=None)


def adopt(native: Any) -> None:
    """A run ``lernkurve.init`` started the native way; wrapped only once something asks."""
    _held.update(run=None, native=native)


def get() -> Any:
    """The current run (a WandbRun or DisabledRun), None when none is going on."""
    run, native = _held["run"], _held["native"]
    if run is None and native is not None and not native.ended.is_set():
        from lernkurve.tracking.wandbsurface import rows
        from lernkurve.tracking.wandbsurface.runview import WandbRun

        row = rows.row_of(native.db, native.id) if native.db is not None else None
        run = WandbRun(native, row.name if row else str(native.id), adopted=True)
        _held.update(run=run, native=None)
    if run is None or run._finished:
        return None
    native = getattr(run, "lernkurve", None)
    return None if native is not None and native.ended.is_set() else run
