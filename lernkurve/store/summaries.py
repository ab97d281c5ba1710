"""Each run's best and last value of one metric, for the run list and the compare table."""

from __future__ import annotations

from sqlalchemy import bindparam, literal_column, select, text, tuple_

from lernkurve.store.database import Database
from lernkurve.store.models import Metric, MetricBucket
from lernkurve.store.points import is_postgres


def run_summaries(db: Database, run_ids: list[int], metric: str, mode: str) -> dict[int, dict]:
    """{run_id: {"metric", "best", "best_step", "last", "last_step"}} for runs that logged it.

    The best comes from the 64-step min/max buckets (a few thousand rows for a million
    points), kept on both stores.
    """
    if not run_ids:
        return {}
    best = _best(db, run_ids, metric, mode)
    with db.engine.connect() as conn:
        last = _last(conn, list(best), metric)
    summaries = {}
    for run_id, (value, step) in best.items():
        last_value, last_step = last.get(run_id, (None, None))
        summaries[run_id] = {
            "metric": metric,
            "best": value,
            "best_step": step,
            "last": last_value,
            "last_step": last_step,
        }
    return summaries


_TOPS = text(
    "SELECT run_id, max(hi_step) AS hi FROM metric_blocks"
    " WHERE key = :key AND run_id IN :run_ids GROUP BY run_id"
).bindparams(bindparam("run_ids", expanding=True))

# SQLite: one statement, so one snapshot. A writer grows the newest small block in place (its
# hi_step moves on), so a top step read by one query may name no block by the next one.
_LAST_SQLITE = text(
    f"""
    WITH tops AS ({_TOPS.text})
    SELECT m.run_id, m.value, m.step FROM metrics m JOIN tops t ON m.run_id = t.run_id
    WHERE m.key = :key AND m.block_hi = t.hi AND m.step = m.block_hi
    ORDER BY m.id
    """
).bindparams(bindparam("run_ids", expanding=True))


def _last(conn, run_ids: list[int], metric: str) -> dict[int, tuple]:
    """{run_id: (value, step)} of each run's point at its highest step (the latest logged
    there), reading only the blocks that hold that step."""
    if not run_ids:
        return {}
    params = {"key": metric, "run_ids": run_ids}
    if not is_postgres(conn):
        rows = conn.execute(_LAST_SQLITE, params)
    else:  # blocks there are only ever added while a run logs: the top's block stays
        tops = conn.execute(_TOPS, params).all()
        if not tops:
            return {}
        block_hi = literal_column("metrics.block_hi")
        rows = conn.execute(
            select(Metric.run_id, Metric.value, Metric.step)
            .where(Metric.key == metric, tuple_(Metric.run_id, block_hi).in_(tops))
            .where(Metric.step == block_hi)
            .order_by(Metric.id)
        )
    return {run_id: (value, step) for run_id, value, step in rows}  # the last id wins


def _best(db: Database, run_ids: list[int], metric: str, mode: str) -> dict[int, tuple]:
    pick = min if mode == "min" else max
    value_col = MetricBucket.lo_value if mode == "min" else MetricBucket.hi_value
    step_col = MetricBucket.lo_step if mode == "min" else MetricBucket.hi_step
    query = select(MetricBucket.run_id, value_col, step_col).where(
        MetricBucket.key == metric, MetricBucket.run_id.in_(run_ids), value_col.is_not(None)
    )
    best: dict[int, tuple] = {}
    with db.engine.connect() as conn:
        for run_id, value, step in conn.execute(query):
            held = best.get(run_id)
            if held is None or pick(value, held[0]) != held[0]:
                best[run_id] = (value, step)
    return best
