"""An imported run in the database: found by its folder, held by one import at a time (a claim
in its config), filled in short write transactions, then finished (or put back as it was).

While an import holds a run, the run is ``running`` and its config names the import's process
(so the server's sweep can tell a live import from a dead one) and what the run was before:
its newest point id (``mark``) and its status, step and times. Putting a run back deletes its
points after the mark and rebuilds the chart buckets they touched; a run the import made is
deleted. A claim whose process is gone is stale: the next import puts that run back first.
"""

from __future__ import annotations

import os
import socket
import zlib
from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select, text, update

from lernkurve.store.columns import Columns
from lernkurve.store.models import (
    Checkpoint,
    Command,
    Event,
    Metric,
    MetricBucket,
    RunRow,
    Snapshot,
    now,
)
from lernkurve.store.points import delete_points, delete_points_after, rebuild_buckets
from lernkurve.store.processes import process_alive, process_identity

SOURCE = "tensorboard"  # runs.task of an imported run
CLAIM = "importing"  # the config key of the import that holds a run
STALE_AFTER = 60.0  # seconds without a heartbeat after which a claim nobody can ask about is stale
PATH_LOCK = 7313  # PostgreSQL advisory lock class: one import at a time looks up a folder's run

_held: set[str] = set()  # the owners of the claims this process holds now


class ClaimLost(Exception):
    """The run was deleted, or another import took it over, while this import wrote it."""


@dataclass
class Claim:
    run_id: int
    owner: str
    new: bool  # the import made the run: putting it back deletes it
    mark: int | None  # the run's newest point id before the import
    before: dict  # status, step, started_at, ended_at, heartbeat_at before the import
    files: dict[str, int]  # bytes of each event file imported before
    tags: set[str]  # tags imported before (a tensor summary names its plugin only once)
    legacy: bool  # imported before offsets were kept: new points are told apart by key and step
    recover: bool = False  # the run holds a dead import's points: put it back first
    name: str = ""


@dataclass
class Busy:
    """Another live import holds the run."""

    holder: dict


@dataclass
class RunIndex:
    """Imported runs by folder: read once, then only the rows added since (the walk of a big
    logdir looks up every folder; scanning every run each time would be quadratic)."""

    by_path: dict[str, list[int]] = field(default_factory=dict)
    max_id: int = 0

    def refresh(self, conn) -> None:
        path = RunRow.config["path"].as_string()
        rows = conn.execute(
            select(RunRow.id, RunRow.task, path).where(RunRow.id > self.max_id).order_by(RunRow.id)
        )
        for run_id, task, folder in rows:
            self.max_id = max(self.max_id, run_id)
            if task == SOURCE and folder:
                self.by_path.setdefault(folder, []).append(run_id)

    def ids(self, path: str) -> list[int]:
        return list(self.by_path.get(path, ()))

    def forget(self, path: str, run_id: int) -> None:
        if run_id in self.by_path.get(path, ()):
            self.by_path[path].remove(run_id)


def let_go_of(owner: str) -> None:
    """This process no longer holds the claim of ``owner``."""
    _held.discard(owner)


def load_index(db) -> RunIndex:
    index = RunIndex()
    with db.engine.connect() as conn:
        index.refresh(conn)
    return index


def stored_state(db, run_id: int) -> tuple[dict, str] | None:
    """A run's config and name, read without a lock (None: no such run)."""
    with db.engine.connect() as conn:
        row = conn.execute(select(RunRow.config, RunRow.name).where(RunRow.id == run_id)).first()
    return None if row is None else (dict(row.config or {}), row.name)


def _is_stale(holder: dict, heartbeat_at: float | None) -> bool:
    if holder.get("owner") in _held:
        return False
    if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        return True  # this process's, but no thread holds it: it ended without letting go
    alive = process_alive(holder)
    if alive is not None:
        return not alive
    return heartbeat_at is None or now() - heartbeat_at > STALE_AFTER


def _lock_path(db, conn, path: str) -> None:
    if not db.is_sqlite:  # SQLite: db.write() holds the one write lock already
        key = zlib.crc32(path.encode("utf-8", "surrogatepass")) - (1 << 31)
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:kind, :key)"), {"kind": PATH_LOCK, "key": key}
        )


_STATE = (RunRow.status, RunRow.step, RunRow.started_at, RunRow.ended_at, RunRow.heartbeat_at)


def claim_run(db, index: RunIndex, path: str, name: str, owner: str) -> Claim | Busy:
    """Take the run of folder ``path`` for this import (made here if there is none yet), or
    say who holds it. One short transaction, under the folder's lock and the run's row lock."""
    _held.add(owner)
    identity = process_identity()
    try:
        with db.write() as conn:
            _lock_path(db, conn, path)
            index.refresh(conn)
            row = None
            for run_id in index.ids(path):
                row = conn.execute(
                    select(RunRow.id, RunRow.name, RunRow.config, RunRow.last_metric_id, *_STATE)
                    .where(RunRow.id == run_id)
                    .with_for_update()
                ).first()
                if row is not None:
                    break
                index.forget(path, run_id)
            if row is None:
                return _new_run(conn, index, path, name, owner, identity)
            config = dict(row.config or {})
            holder = config.get(CLAIM)
            if isinstance(holder, dict) and not _is_stale(holder, row.heartbeat_at):
                _held.discard(owner)
                return Busy(holder)
            if isinstance(holder, dict):  # a dead import's: what the run was before it
                mark, before, new = (
                    holder.get("mark"),
                    holder.get("before") or {},
                    holder.get("new"),
                )
            else:
                mark, new = row.last_metric_id, False
                before = {column.key: row._mapping[column.key] for column in _STATE}
            files = config.get("files")
            config[CLAIM] = {"owner": owner, "mark": mark, "before": before, "new": bool(new)}
            config[CLAIM].update(identity)
            config.update(identity)  # the sweep asks this process whether the run lives
            conn.execute(
                update(RunRow)
                .where(RunRow.id == row.id)
                .values(config=config, status="running", heartbeat_at=now())
            )
    except BaseException:
        _held.discard(owner)
        raise
    return Claim(
        run_id=row.id,
        owner=owner,
        new=bool(new),
        mark=mark,
        before=before,
        files=dict(files) if isinstance(files, dict) else {},
        tags=set(config.get("tags") or ()),
        legacy=not isinstance(files, dict) and not new and mark is not None,
        recover=isinstance(holder, dict),
        name=row.name,
    )


def _new_run(conn, index: RunIndex, path: str, name: str, owner: str, identity: dict) -> Claim:
    holder = {"owner": owner, "mark": None, "before": {}, "new": True, **identity}
    config = {"source": SOURCE, "path": path, "tags": [], "files": {}, CLAIM: holder, **identity}
    stamp = now()
    result = conn.execute(
        insert(RunRow).values(
            name=name[:200],
            task=SOURCE,
            status="running",
            hparams={},
            config=config,
            step=0,
            created_at=stamp,
            heartbeat_at=stamp,
            tags=[],
        )
    )
    run_id = result.inserted_primary_key[0]
    index.by_path.setdefault(path, []).insert(0, run_id)
    return Claim(run_id, owner, True, None, {}, {}, set(), False, name=name[:200])


def check(conn, claim: Claim) -> None:
    owner = conn.execute(
        select(RunRow.config[(CLAIM, "owner")].as_string())
        .where(RunRow.id == claim.run_id)
        .with_for_update()
    ).first()
    if owner is None or owner[0] != claim.owner:
        raise ClaimLost(f"run {claim.run_id} was deleted or taken over by another import")


def write_points(db, claim: Claim, columns: Columns) -> None:
    """One batch of points, its chart buckets and the claim's heartbeat: one transaction."""
    with db.write() as conn:
        db.order_run_rows(conn, [claim.run_id])
        check(conn, claim)
        db.insert_columns(conn, claim.run_id, columns.keys)
        db.upsert_buckets(conn, claim.run_id, columns.buckets)
        conn.execute(update(RunRow).where(RunRow.id == claim.run_id).values(heartbeat_at=now()))


def beat(db, claim: Claim) -> None:
    """The claim's heartbeat while no points are written (empty files, waiting for a lock)."""
    with db.write(checkpoint=False) as conn:
        check(conn, claim)
        conn.execute(update(RunRow).where(RunRow.id == claim.run_id).values(heartbeat_at=now()))


def finish(db, claim: Claim, files: dict[str, int], tags: set[str], seen: dict) -> None:
    """The run complete: its files' offsets and tags kept, the claim let go. ``seen``: the
    lowest and highest step and wall time of the points read (None when there were none)."""
    with db.write() as conn:
        check(conn, claim)
        row = conn.execute(
            select(RunRow.config, RunRow.step, RunRow.started_at, RunRow.ended_at).where(
                RunRow.id == claim.run_id
            )
        ).one()
        config = let_go(row.config)
        config["files"] = {name: offset for name, offset in sorted(files.items()) if offset}
        config["tags"] = sorted(tags)
        before = claim.before
        values = {
            "config": config,
            "status": "completed",
            "heartbeat_at": now(),
            "step": max(before.get("step") or 0, seen.get("step") or 0),
            "started_at": _least(before.get("started_at"), seen.get("first_wall")),
            "ended_at": _most(before.get("ended_at"), seen.get("last_wall")),
        }
        conn.execute(update(RunRow).where(RunRow.id == claim.run_id).values(**values))
    _held.discard(claim.owner)


def _least(*values):
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _most(*values):
    present = [v for v in values if v is not None]
    return max(present) if present else None


def let_go(config: dict | None) -> dict:
    config = dict(config or {})
    config.pop(CLAIM, None)
    for key in ("pid", "host", "pid_created"):
        config.pop(key, None)
    return config


def owns(conn, claim: Claim) -> bool:
    """Whether the claim still holds its run (it was not deleted or taken over meanwhile)."""
    try:
        check(conn, claim)
    except ClaimLost:
        return False
    return True


def recover(db, claim: Claim) -> None:
    """Delete the points a dead import wrote after the claim's mark; the buckets they were in
    are rebuilt from the points kept."""
    with db.write() as conn:
        check(conn, claim)
        _drop_after_mark(db, conn, claim)


def put_back(db, claim: Claim, index: RunIndex, path: str) -> None:
    """The run as it was before this import: a run the import made is deleted, another loses
    the points written after the mark and gets its status, step and times back. The claim is
    let go either way; a run no longer held by it is left alone."""
    try:
        with db.write() as conn:
            if not owns(conn, claim):
                return
            if claim.new:
                _delete_run(conn, claim.run_id)
                index.forget(path, claim.run_id)
                return
            _drop_after_mark(db, conn, claim)
            config = conn.execute(select(RunRow.config).where(RunRow.id == claim.run_id)).scalar()
            values = {column.key: claim.before.get(column.key) for column in _STATE}
            values["last_metric_id"] = claim.mark
            conn.execute(
                update(RunRow)
                .where(RunRow.id == claim.run_id)
                .values(config=let_go(config), **values)
            )
    finally:
        _held.discard(claim.owner)


def _drop_after_mark(db, conn, claim: Claim) -> None:
    steps = delete_points_after(conn, claim.run_id, claim.mark)
    if steps is not None:
        db.upsert_buckets(conn, claim.run_id, rebuild_buckets(conn, claim.run_id, *steps))


def _delete_run(conn, run_id: int) -> None:
    delete_points(conn, [run_id])
    for table in (MetricBucket, Event, Checkpoint, Snapshot, Command):
        conn.execute(delete(table).where(table.run_id == run_id))
    conn.execute(delete(RunRow).where(RunRow.id == run_id))


def seen_points(db, run_id: int) -> set[tuple[str, int]]:
    """The (key, step) of a run's stored points: an older release kept no file offsets, so
    new points are told apart from imported ones by key and step."""
    query = select(Metric.key, Metric.step).where(Metric.run_id == run_id)
    with db.engine.connect() as conn:
        return {(key, step) for key, step in conn.execute(query)}
