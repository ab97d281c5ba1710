"""Each run's best and last value of one metric, for the run list and the compare table."""

from __future__ import annotations

from sqlalchemy import select

from lernkurve.store.database import Database
from lernkurve.store.models import Metric, MetricBucket
from lernkurve.store.points import edge_blocks


def run_summaries(db: Database, run_ids: list[int], metric: str, mode: str) -> dict[int, dict]:
    """{run_id: {"metric", "best", "best_step", "last", "last_step"}} for runs that logged it.

    The best comes from the 64-step min/max buckets (a few thousand rows for a million
    points), kept on both stores.
    """
    if not run_ids:
        return {}
    best = _best(db, run_ids, metric, mode)
    summaries = {}
    with db.engine.connect() as conn:
        for run_id in best:
            last = conn.execute(
                select(Metric.value, Metric.step)
                .where(Metric.run_id == run_id, Metric.key == metric)
                .where(*edge_blocks(conn, run_id, metric, "last"))
                .order_by(Metric.step.desc(), Metric.id.desc())
                .limit(1)
            ).first()
            value, step = best[run_id]
            summaries[run_id] = {
                "metric": metric,
                "best": value,
                "best_step": step,
                "last": last[0] if last else None,
                "last_step": last[1] if last else None,
            }
    return summaries


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
