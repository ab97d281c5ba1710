"""SQLite keeps points in blocks: old databases move over and back unchanged, points come back
as logged (unsorted and repeated steps, NaN, 64-bit steps), a cut keeps a block's earlier
points with their ids, reads unpack only the blocks they need, and kill -9 mid-write leaves a
sound file."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest
from sqlalchemy import event, text

from lernkurve.store import blockreads, impact, liteblocks
from lernkurve.store.columns import columns_of
from lernkurve.store.database import Database
from lernkurve.store.points import delete_points, delete_points_after
from lernkurve.store.queries import csv_lines, metric_series
from lernkurve.store.summaries import run_summaries
from lernkurve.tracking import client
from support import migrate_to, wait_for

pytestmark = pytest.mark.sqlite_only


def sqlite(path) -> sqlite3.Connection:
    """A plain connection, as a user's own program opens it, with the view's functions."""
    conn = sqlite3.connect(path)
    liteblocks.register(conn)
    return conn


def points_by_run_and_key(path) -> dict:
    """{(run_id, key): [(id, step, value, wall_time), ...] in id order}."""
    with closing(sqlite(path)) as conn:
        rows = conn.execute(
            "SELECT run_id, key, id, step, value, wall_time FROM metrics ORDER BY id"
        ).fetchall()
    found: dict = {}
    for run_id, key, *point in rows:
        found.setdefault((run_id, key), []).append(tuple(point))
    return found


def old_database(path) -> list[int]:
    """A 0009 database with a row per point: two runs logged in turns, two keys each, NULLs,
    a step past 2**40 and steps out of order."""
    migrate_to(f"sqlite:///{path}", "0009")
    with closing(sqlite3.connect(path)) as conn:
        runs = [
            conn.execute(
                "INSERT INTO runs (name, task, status, hparams, config, step, created_at)"
                " VALUES ('old', 'script', 'completed', '{}', '{}', 0, 1.0)"
            ).lastrowid
            for _ in range(2)
        ]
        steps = [*range(10_000), 2**40 + 1, 5, 5, 3]
        rows = [
            (run_id, key, step, None if step % 7 == 3 else step * 0.5, 10.0 + i * 0.001)
            for i, step in enumerate(steps)
            for run_id in runs
            for key in ("loss", "acc")
        ]
        conn.executemany(
            "INSERT INTO metrics (run_id, key, step, value, wall_time) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute(
            "UPDATE runs SET last_metric_id = (SELECT max(id) FROM metrics WHERE run_id = runs.id)"
        )
        conn.commit()
    return runs


def test_an_old_database_moves_into_blocks_and_back_unchanged(tmp_path):
    path = tmp_path / "old.db"
    runs = old_database(path)
    with closing(sqlite3.connect(path)) as conn:
        before = {}
        for run_id, key, *point in conn.execute(
            "SELECT run_id, key, id, step, value, wall_time FROM metrics ORDER BY id"
        ):
            before.setdefault((run_id, key), []).append(tuple(point))
        last_ids = conn.execute("SELECT id, last_metric_id FROM runs").fetchall()

    migrate_to(f"sqlite:///{path}", "0010")
    after = points_by_run_and_key(path)
    assert after.keys() == before.keys()
    for series in before:  # walls to the microsecond, everything else exact
        assert [p[:3] for p in after[series]] == [p[:3] for p in before[series]], series
        walls = zip(after[series], before[series], strict=True)
        assert all(abs(a[3] - b[3]) < 1e-6 for a, b in walls)
    with closing(sqlite(path)) as conn:
        assert conn.execute("SELECT id, last_metric_id FROM runs").fetchall() == last_ids
        assert conn.execute("SELECT count(*) FROM metric_blocks").fetchone()[0] == 8  # 10,004: 2
    db = Database(path)
    chart = metric_series(db, runs[0], ["loss"])["series"]["loss"]
    db.dispose()
    assert [p[0] for p in chart] == [step for _, step, _, _ in before[runs[0], "loss"]]

    migrate_to(f"sqlite:///{path}", "0009", down=True)
    with closing(sqlite3.connect(path)) as conn:
        back = {}
        for run_id, key, *point in conn.execute(
            "SELECT run_id, key, id, step, value, wall_time FROM metrics ORDER BY id"
        ):
            back.setdefault((run_id, key), []).append(tuple(point))
    assert {s: [p[:3] for p in v] for s, v in back.items()} == {
        s: [p[:3] for p in v] for s, v in before.items()
    }


def test_points_come_back_as_logged(db_path):
    run = client.init(config={}, db=db_path, system_metrics=False)
    logged = [(5, 1.0), (3, float("nan")), (3, 2.0), (2**40, float("inf")), (0, -0.0)]
    for step, value in logged:
        run.log(step, loss=value)
    run.finish()
    db = Database(db_path)
    with db.engine.connect() as conn:
        (points,) = blockreads.read(conn, run.id).values()
    db.dispose()
    assert [s for s, _, _ in points.rows()] == [5, 3, 3, 2**40, 0]
    assert [v for _, v, _ in points.rows()] == [1.0, None, 2.0, None, -0.0]


def test_a_cut_inside_a_block_keeps_its_earlier_points_and_their_ids(db_path):
    db = Database(db_path)
    run_id = db.insert_run(name="cut", task="script").id
    rows = [(run_id, key, s, float(s), 5.0 + s) for s in range(100) for key in ("a", "b")]
    with db.write() as conn:
        db.insert_metrics(conn, rows)
    before = points_by_run_and_key(db_path)
    with db.Session() as session:  # a resume from step 40
        delete_points(session, [run_id], 40)
        session.commit()
    after = points_by_run_and_key(db_path)
    db.dispose()
    for key in ("a", "b"):
        assert after[run_id, key] == [p for p in before[run_id, key] if p[1] < 40]


def decoded_blocks(monkeypatch) -> list[int]:
    """Counts the blocks readers unpack (liteblocks.decode) and the points the view reads."""
    seen = [0, 0]
    decode = liteblocks.decode

    def counting(row):
        seen[0] += 1
        return decode(row)

    monkeypatch.setattr(liteblocks, "decode", counting)
    return seen


def test_reads_of_a_few_points_unpack_only_their_blocks(db_path, monkeypatch):
    db = Database(db_path)
    run_id = db.insert_run(name="many blocks", task="script").id
    for batch in range(100):  # 100 batches: 100 blocks of 10 points
        calls = [(s, 1.0 + s, {"loss": float(s)}) for s in range(batch * 10, batch * 10 + 10)]
        columns = columns_of(calls)
        with db.write() as conn:
            db.insert_columns(conn, run_id, columns.keys)
            db.upsert_buckets(conn, run_id, columns.buckets)
    with db.engine.connect() as conn:
        since = conn.execute(text("SELECT id FROM metrics ORDER BY id DESC LIMIT 1 OFFSET 15"))
        since = since.scalar()
    seen = decoded_blocks(monkeypatch)
    assert len(metric_series(db, run_id, ["loss"], since_id=since)["series"]["loss"]) == 15
    assert seen[0] <= 2
    seen[0] = 0
    later = metric_series(db, run_id, ["loss"], since_step=985)["series"]["loss"]
    assert [point[0] for point in later] == list(range(985, 1000))
    assert seen[0] <= 2
    assert run_summaries(db, [run_id], "loss", "min")[run_id]["last_step"] == 999
    change = {"kind": "hparams", "step": 500, "payload": LR_CHANGE}
    assert "impact" in impact.annotate(db, run_id, [change])[0]
    seen[0] = 0
    csv = "".join(csv_lines(db, run_id, chunk=50)).splitlines()
    assert [line.split(",")[0] for line in csv[1:]] == [str(s) for s in range(1000)]
    assert seen[0] <= 130  # ~21 windows of ~6 blocks, not every block after each start
    with db.engine.connect() as conn:
        plan = conn.execute(
            text(f"EXPLAIN QUERY PLAN SELECT * FROM metrics WHERE run_id = :r AND {WINDOW}"),
            {"r": run_id, "a": since, "b": since + 20},
        ).all()
    db.dispose()
    assert any("ix_metric_blocks_run_hi_id" in str(row) for row in plan), plan


LR_CHANGE = {"changes": {"lr": [0.1, 0.05]}}
WINDOW = "id > :a AND block_hi_id > :a AND id <= :b AND block_lo_id <= :b"

WRITER = """
import sys
from lernkurve.tracking import client
run = client.init(config={}, db=sys.argv[1], system_metrics=False)
print("run", run.id, flush=True)
step = 0
while True:
    run.log(step, **{f"k{i}": step * 0.5 + i for i in range(10)})
    step += 1
"""


def write_points(db: Database, run_id: int, batch: list[tuple]) -> None:
    """(step, wall, value) points of "loss", committed as a writer's batch is."""
    columns = columns_of([(step, wall, {"loss": value}) for step, wall, value in batch])
    with db.write() as conn:
        db.insert_columns(conn, run_id, columns.keys)
        db.upsert_buckets(conn, run_id, columns.buckets)


def test_each_runs_last_is_its_point_at_the_highest_step_logged_last_there(db_path):
    db = Database(db_path)
    ids = [db.insert_run(name=f"run {i}", task="script").id for i in range(4)]
    batches = {
        ids[0]: [[(0, 1.0, 3.0), (9, 2.0, 1.0)], [(5, 3.0, 0.5)]],  # 9 is the top, not 5
        ids[1]: [[(0, 1.0, 2.0), (4, 2.0, 1.5)], [(4, 3.0, 1.25)]],  # 4 again: its later value
        ids[2]: [[(0, 1.0, 2.0), (7, 2.0, float("nan"))]],  # a last value that was not finite
        ids[3]: [],  # never logged it
    }
    for run_id, calls in batches.items():
        for batch in calls:
            write_points(db, run_id, batch)
    found = run_summaries(db, ids, "loss", "min")
    last = {run_id: (row["last"], row["last_step"]) for run_id, row in found.items()}
    assert last == {ids[0]: (1.0, 9), ids[1]: (1.25, 4), ids[2]: (None, 7)}
    assert found[ids[0]]["best"] == 0.5 and found[ids[0]]["best_step"] == 5


def test_a_run_s_last_point_is_found_while_its_newest_block_grows(db_path):
    """The run list's "last" while the script logs: a batch that lands in the middle of the
    read grows the newest block in place (a new top step); the read sees it or not, never
    a run with no last point."""
    db = Database(db_path)
    run_id = db.insert_run(name="live", task="script").id
    write_points(db, run_id, [(step, 1.0, 1.0 / (step + 1)) for step in range(10)])
    landed = []

    def a_batch_lands(_conn, _cursor, statement, *_):
        if "max(hi_step)" in statement and not landed:
            landed.append(True)
            write_points(db, run_id, [(10, 2.0, 0.5)])  # merged into the same small block

    event.listen(db.engine, "after_cursor_execute", a_batch_lands)
    found = run_summaries(db, [run_id], "loss", "min")[run_id]
    event.remove(db.engine, "after_cursor_execute", a_batch_lands)
    assert landed
    assert (found["last_step"], found["last"]) in [(9, 0.1), (10, 0.5)]
    assert run_summaries(db, [run_id], "loss", "min")[run_id]["last_step"] == 10


def test_kill_9_while_points_are_written_leaves_a_sound_file(db_path, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(db_path)], stdout=subprocess.PIPE)
    run_id = int(proc.stdout.readline().split()[1])
    with closing(sqlite(db_path)) as conn:
        wait_for(lambda: conn.execute("SELECT count(*) FROM metric_blocks").fetchone()[0] > 50)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    with closing(sqlite(db_path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        counts = conn.execute(
            "SELECT key, count(*), min(step), max(step) FROM metrics WHERE run_id = ? GROUP BY key",
            (run_id,),
        ).fetchall()
    assert len(counts) == 10
    # every key has each step once, from 0 on: what was stored is whole, batch by batch
    assert len({(count, low, high) for _, count, low, high in counts}) == 1
    (_, count, low, high), *_ = counts
    assert low == 0 and high == count - 1


def test_a_run_that_logs_a_point_a_flush_fills_blocks_and_reads_in_id_order(db_path):
    """A slow run's flushes carry a point per key: they go into the key's newest block until
    it holds MERGE_BELOW, so its blocks overlap other keys' ids; every reader still reads each
    point once, in id order, and a put-back cuts by id inside a block."""
    db = Database(db_path)
    run_id = db.insert_run(name="slow", task="script").id
    keys = ("a", "b", "c", "d")
    for step in range(1_000):  # a flush a step, as a run at a few steps a second has them
        columns = columns_of([(step, 100.0 + step, {k: step + i / 10 for i, k in enumerate(keys)})])
        with db.write() as conn:
            db.insert_columns(conn, run_id, columns.keys)
    with closing(sqlite(db_path)) as conn:
        blocks, packed = conn.execute(
            "SELECT count(*), sum(length(ids) + length(steps) + length(vals) + length(walls))"
            " FROM metric_blocks"
        ).fetchone()
    assert blocks <= 4 * (1_000 // liteblocks.MERGE_BELOW + 1)  # not a block a point
    assert packed / 4_000 <= 12.5  # even ids and steps: nothing; a value 8, a wall time 4
    stored = points_by_run_and_key(db_path)
    for i, key in enumerate(keys):
        assert [(s, v) for _, s, v, _ in stored[run_id, key]] == [
            (s, s + i / 10) for s in range(1_000)
        ]
    csv = "".join(csv_lines(db, run_id, chunk=70)).splitlines()[1:]
    assert [line.split(",")[:2] for line in csv] == [
        [str(s), k] for s in range(1_000) for k in keys
    ]
    mark = stored[run_id, "a"][499][0]  # as an import's put-back: the points after it go
    with db.write() as conn:
        assert delete_points_after(conn, run_id, mark) == (499, 999)
    after = points_by_run_and_key(db_path)
    db.dispose()
    assert all(p[0] <= mark for points in after.values() for p in points)
    assert [len(after[run_id, k]) for k in keys] == [500, 499, 499, 499]


def test_a_run_that_asks_for_float32_keeps_its_values_as_float32(db_path):
    import numpy as np

    runs = {}
    for precision in ("float32", "float64"):
        run = client.init(config={}, db=str(db_path), precision=precision, system_metrics=False)
        for step in range(300):
            run.log(step, loss=1 / 3 + step, huge=1e300)  # 1e300: beyond float32's range
        run.finish()
        runs[precision] = run.id
    db = Database(db_path)
    with db.engine.connect() as conn:
        size = "SELECT sum(n), sum(length(vals)) FROM metric_blocks WHERE run_id = :r AND key = :k"
        points, held = conn.execute(text(size), {"r": runs["float32"], "k": "loss"}).one()
        assert points == 300 and held < 300 * 4 + 16  # a tag byte per block
    for precision, run_id in runs.items():
        series = metric_series(db, run_id, ["loss", "huge"])["series"]
        kind = np.float32 if precision == "float32" else np.float64
        assert [p[1] for p in series["loss"]] == [float(kind(1 / 3 + s)) for s in range(300)]
        assert {p[1] for p in series["huge"]} == {1e300}
    with pytest.raises(ValueError, match="precision must be one of float64, float32"):
        client.init(config={}, db=str(db_path), precision="half")


def test_float32_values_are_the_same_without_numpy():
    from lernkurve.store import columns

    calls = [(s, 1.0 + s, {"a": 1 / 3 + s, "b": 1e300, "c": -2.5}) for s in range(20)]
    with_numpy, plain = columns_of(calls, True), columns._columns_plain(calls, True)
    assert {k: v[1].tolist() for k, v in with_numpy.keys.items()} == {
        k: v[1] for k, v in plain.keys.items()
    }
    assert plain.keys["a"][1][1] != 1 / 3 + 1 and plain.keys["b"][1][0] == 1e300
