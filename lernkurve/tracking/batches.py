"""A batch as the writer writes it: what a log call costs in memory, a run's final status held
back until its last point, the records (events, checkpoints, snapshots, acks) written in the
same transaction as the points, and points of a run that has already ended."""

from __future__ import annotations

import sys

from sqlalchemy import select, update

from lernkurve.store import retention
from lernkurve.store.columns import columns_of
from lernkurve.store.database import Database
from lernkurve.store.models import LIVE_STATUSES, Checkpoint, Command, Event, RunRow, Snapshot


def write_now(db: Database, run_id: int, points: list[tuple]) -> None:
    """Write (step, wall_time, scalars) entries of a run that has ended, at once (an
    evaluation after training: the run's writer has let it go)."""
    columns = columns_of(points)
    with db.write() as conn:
        db.order_run_rows(conn, [run_id])
        db.upsert_buckets(conn, run_id, columns.buckets)
        db.insert_columns(conn, run_id, columns.keys)


def entry_bytes(entry: tuple) -> int:
    """Memory one log call holds: its tuple, time, step, dict and values (keys are shared)."""
    step, _, scalars = entry
    values = sum(sys.getsizeof(value) for value in scalars.values())
    return 8 + sys.getsizeof(entry) + 24 + sys.getsizeof(step) + sys.getsizeof(scalars) + values


def hold_final_status(batch: dict) -> dict:
    """An ended run that still holds points stays `running`: its end goes with its last point."""
    row = batch["row"]
    if row["status"] in LIVE_STATUSES or batch["more"]:
        row["status"] = "running" if row["status"] not in LIVE_STATUSES else row["status"]
        row["ended_at"] = row["error"] = None
    return batch


def is_foreign_key(exc: BaseException) -> bool:
    return "foreign key" in str(exc).lower()


def write_outbox(conn, run_id: int, outbox: list[tuple]) -> list[str]:
    """Write events, checkpoints, snapshots, acks and what the run says of itself in its
    config (all of a batch's config items in one read and write of the config); the
    checkpoint files to let go."""
    let_go = []
    told: dict = {}
    for kind, item in outbox:
        if kind == "config":
            lay_over(told, item)
    if told:
        merge_config(conn, run_id, told)
    for kind, item in outbox:
        if kind == "event":
            conn.execute(Event.__table__.insert().values(run_id=run_id, **item))
        elif kind == "checkpoint":
            let_go += write_checkpoint(conn, run_id, item)
        elif kind == "snapshot":
            conn.execute(Snapshot.__table__.insert().values(run_id=run_id, **item))
        elif kind == "trial_start":
            conn.execute(update(RunRow).where(RunRow.id == run_id).values(parent_step=item["step"]))
        elif kind == "ack":
            conn.execute(
                update(Command).where(Command.id == item["id"]).values(applied_at=item["at"])
            )
    return let_go


def lay_over(config: dict, values: dict) -> dict:
    """``values`` laid over ``config`` in place, one level deep (dicts in both are merged)."""
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def merge_config(conn, run_id: int, values: dict) -> None:
    """Lay ``values`` over the run's config (one level deep): what the run tells the app about
    itself, e.g. which trials it can host."""
    query = select(RunRow.config).where(RunRow.id == run_id).with_for_update()
    config = conn.execute(query).scalar()
    config = dict(config) if isinstance(config, dict) else {}
    conn.execute(update(RunRow).where(RunRow.id == run_id).values(config=lay_over(config, values)))


def write_checkpoint(conn, run_id: int, item: dict) -> list[str]:
    """One row per (run, step): a save at a step replaces it. Then the run's retention."""
    row = {k: v for k, v in item.items() if k != "retain"}
    table = Checkpoint.__table__
    conn.execute(table.delete().where(table.c.run_id == run_id, table.c.step == row["step"]))
    conn.execute(table.insert().values(run_id=run_id, **row))
    retain = item.get("retain")
    return retention.prune(conn, run_id, retain) if retain else []
