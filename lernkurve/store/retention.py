"""Which of a run's own checkpoint files to keep: the newest ``keep_last``, the best by the
``keep_best`` metric, and any that a fork of the run starts from. Only files Lernkurve wrote
itself (``checkpoints.managed``) are ever let go: a framework's own checkpoints follow the
framework's retention (Lightning's save_top_k, HF's save_total_limit)."""

from __future__ import annotations

from sqlalchemy import delete, select

from lernkurve.store.blockreads import last_before
from lernkurve.store.checkpoints import fork_sources
from lernkurve.store.models import Checkpoint

MODES = ("min", "max")
KEEP_LAST = 5  # the default: a few recent states to go back to, not every file ever saved


def checked(keep_last: int | None, keep_best: str | None, mode: str) -> dict:
    """The settings as a run keeps them, or ValueError naming the one that is wrong."""
    if keep_last is not None and (
        isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1
    ):
        raise ValueError(
            f"keep_last must be a whole number of at least 1 or None, got {keep_last!r}"
        )
    if keep_best is not None and (not isinstance(keep_best, str) or not keep_best):
        raise ValueError(f"keep_best must name a logged metric, got {keep_best!r}")
    if mode not in MODES:
        raise ValueError(f"keep_best_mode must be min or max, got {mode!r}")
    return {"keep_last": keep_last, "keep_best": keep_best, "mode": mode}


def prune(connection, run_id: int, retention: dict) -> list[str]:
    """Delete, in this transaction, the rows of the run's own checkpoints that the retention
    lets go; returns their paths (the caller removes the files once this commits)."""
    rows = connection.execute(
        select(Checkpoint.id, Checkpoint.step, Checkpoint.path)
        .where(Checkpoint.run_id == run_id, Checkpoint.managed)
        .order_by(Checkpoint.step)
    ).all()
    keep_last = retention.get("keep_last")
    if keep_last is None or len(rows) <= keep_last:
        return []
    keep = {row.id for row in rows[-keep_last:]}
    best = _best(connection, run_id, rows, retention)
    if best is not None:
        keep.add(best)
    forked = fork_sources(connection, run_id)
    doomed = [row for row in rows if row.id not in keep and row.path not in forked]
    if doomed:
        connection.execute(delete(Checkpoint).where(Checkpoint.id.in_([r.id for r in doomed])))
    return [row.path for row in doomed]


def _best(connection, run_id: int, rows: list, retention: dict) -> int | None:
    """The checkpoint whose metric, as last logged before it, is the best; None if none is."""
    key = retention.get("keep_best")
    if not key:
        return None
    scored = [(_score(connection, run_id, key, row), row.id) for row in rows]
    scored = [(score, row_id) for score, row_id in scored if score is not None]
    if not scored:
        return None
    pick = min if retention.get("mode", "min") == "min" else max
    return pick(scored)[1]


def _score(connection, run_id: int, key: str, row) -> float | None:
    """The metric's last value before the checkpoint's step."""
    return last_before(connection, run_id, key, row.step)
