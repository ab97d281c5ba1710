"""A run's trial children in the database (an lr test's or race's runs): whether one is still
to come or under way, and ending them when their parent cannot go on with them."""

from __future__ import annotations

from sqlalchemy import select, update

from lernkurve.store.models import RunRow, now

TRIAL_KINDS = ("lr_test", "race")  # runs.task of a trial's child runs
NOT_ENDED = ("queued", "running")


def trial_running(connection, run_id: int) -> bool:
    """A trial of this run asked for or under way (a child that has not ended)."""
    child = connection.execute(
        select(RunRow.id).where(
            RunRow.parent_id == run_id,
            RunRow.task.in_(TRIAL_KINDS),
            RunRow.status.in_(NOT_ENDED),
        )
    ).first()
    return child is not None


def children_of(connection, parent_ids: list[int]) -> list[int]:
    """The ids of these runs' trial children, ended or not."""
    query = select(RunRow.id).where(RunRow.parent_id.in_(parent_ids), RunRow.task.in_(TRIAL_KINDS))
    return list(connection.execute(query).scalars())


def end_children(
    connection, parent_ids: list[int], status: str, error: str, waiting_only: bool = False
) -> int:
    """End these runs' trial children that have not ended (``waiting_only``: only those not
    started yet), with ``status`` and the reason in ``error``; how many."""
    waiting = ("queued",) if waiting_only else NOT_ENDED
    result = connection.execute(
        update(RunRow)
        .where(
            RunRow.parent_id.in_(parent_ids),
            RunRow.task.in_(TRIAL_KINDS),
            RunRow.status.in_(waiting),
        )
        .values(status=status, ended_at=now(), error=error)
    )
    return result.rowcount
