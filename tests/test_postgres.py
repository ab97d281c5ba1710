"""PostgreSQL as a store: what only it needs (COPY, 64-bit ids, migrations, closed connections)
and a heavy logger beside a light run, which must neither starve the light run's stream nor mark
any live run `interrupted` (that one on SQLite too; how late the light points arrive is
benchmarks/bench_writer_load.py's to say).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, event, text

from lernkurve import cli
from lernkurve.store import impact, pgblocks
from lernkurve.store.database import Database, rows_as_columns
from lernkurve.store.migrate import HEAD
from lernkurve.store.points import delete_points, expand_points
from lernkurve.store.queries import csv_lines, metric_series
from lernkurve.store.summaries import run_summaries
from lernkurve.tracking import client
from support import ROOT, migrate_to, schema_differences, wait_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(postgres_cluster, db_path, store):
    if store != "postgres":
        pytest.skip("PostgreSQL only")
    return db_path


def scalar(url: str, sql: str, **params):
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def test_keys_copy_would_misread_arrive_intact(api, db_path):
    keys = ["tab\tkey", "new\nline", "back\\slash", "cr\rkey", "nul\0key", "ümlaut €", r"\N"]
    run = client.init(config={}, db=db_path, system_metrics=False)
    for step in range(3):
        run.log(step, **{key: step + index / 10 for index, key in enumerate(keys)})
    run.log(3, **{keys[0]: None, keys[1]: float("nan")})  # None is dropped, NaN stored as NULL
    run.finish()
    series = api.get(f"/api/runs/{run.id}/metrics").get_json()["series"]
    stored = {key.replace("\0", "\ufffd") for key in keys}  # PostgreSQL text holds no NUL
    assert set(series) == stored
    for index, key in enumerate(keys):
        points = series[key.replace("\0", "\ufffd")]
        assert [p[:2] for p in points[:3]] == [[s, s + index / 10] for s in range(3)]
    assert series[keys[1]][3][:2] == [3, None]


def test_a_batch_longer_than_a_block_and_a_cut_inside_a_block_keep_every_point(pg_url):
    db = Database(pg_url)
    run_id = db.insert_run(name="long", task="script").id
    steps = pgblocks.BLOCK_POINTS + 100
    rows = [(run_id, "loss", s, None if s % 1000 == 7 else s / 2, 5.0 + s) for s in range(steps)]
    rows += [(run_id, "acc", s, 1.0, 5.0) for s in range(5)]
    with db.write() as conn:
        db.insert_metrics(conn, rows)
    assert scalar(pg_url, "SELECT count(*) FROM metric_blocks") == 3  # loss: 2 blocks, acc: 1
    newest = scalar(pg_url, "SELECT max(id) FROM metrics")
    assert scalar(pg_url, f"SELECT last_metric_id FROM runs WHERE id = {run_id}") == newest
    series = metric_series(db, run_id, ["loss"])["series"]["loss"]
    assert [tuple(p) for p in series] == [(s, v, w) for _, _, s, v, w in rows[:steps]]

    with db.Session() as session:  # a resume cuts from step 3 on: inside the first blocks
        delete_points(session, [run_id], 3)
        session.commit()
    series = metric_series(db, run_id)["series"]
    db.dispose()
    assert {key: [p[0] for p in points] for key, points in series.items()} == {
        "loss": [0, 1, 2],
        "acc": [0, 1, 2],
    }
    assert scalar(pg_url, "SELECT count(*) FROM metric_blocks") == 2


def test_steps_past_32_bits_are_kept_on_both_stores(api, db_path):
    """A step may count samples or tokens: past 2**31 it is kept as logged everywhere."""
    steps = [0, 3_000_000_000, 2**40]
    run = client.init(config={}, db=db_path, system_metrics=False)
    for step in steps:
        run.log(step, loss=1.0 / (step + 1))
    run.step = 2**40  # the run's own counter, on its row
    run.finish()
    assert [p[0] for p in api.points(run.id, "loss")] == steps
    chart = api.get(f"/api/runs/{run.id}/metrics?keys=loss&max_points=100").get_json()
    assert [p[0] for p in chart["series"]["loss"]] == steps  # from the min/max buckets
    assert api.get(f"/api/runs/{run.id}").get_json()["step"] == 2**40
    with pytest.raises(OverflowError):  # past 64 bits: refused, never wrapped
        pgblocks.copy_data(run.id, rows_as_columns([(run.id, "loss", 2**63, 1.0, 1.0)]))


WRITES = [
    "DELETE FROM runs",
    "DROP TABLE events",
    "COMMIT; DELETE FROM runs",  # ends a read-only transaction, then writes in the next
    "SET default_transaction_read_only = off; COMMIT; DELETE FROM runs",
    "SELECT 1; DELETE FROM runs",
]


@pytest.mark.parametrize("sql", WRITES)
def test_lernkurve_query_writes_nothing_on_either_store(db_path, capsys, sql):
    run = client.init(name="kept", config={}, db=db_path, system_metrics=False)
    run.log(0, loss=1.0)
    run.finish()
    assert cli.main(["query", sql, "--db", str(db_path)]) == 1
    assert "lernkurve query:" in capsys.readouterr().err
    kept = "SELECT name, (SELECT count(*) FROM events) AS e FROM runs WHERE name LIKE 'ke%'"
    assert cli.main(["query", kept, "--db", str(db_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows) == 1 and rows[0]["name"] == "kept"


def test_metric_ids_are_64_bit_and_an_older_database_gets_its_chart_buckets(pg_url):
    migrate_to(pg_url, "0004")
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        run_id = conn.execute(
            text(
                "INSERT INTO runs (name, task, status, hparams, config, step, created_at) "
                "VALUES ('old', 'script', 'completed', '{}', '{}', 999, 1.0) RETURNING id"
            )
        ).scalar()
        conn.execute(
            text(
                "INSERT INTO metrics (run_id, key, step, value, wall_time) "
                "SELECT :run_id, 'loss', s, sin(s / 50.0) + s / 1000.0, 1.0 + s FROM "
                "generate_series(0, 999) AS s"
            ),
            {"run_id": run_id},
        )
    engine.dispose()
    assert scalar(pg_url, "SELECT data_type FROM information_schema.columns "
                  "WHERE table_name = 'metrics' AND column_name = 'id'") == "integer"  # fmt: skip

    db = Database(pg_url)  # opening migrates it to HEAD
    full = metric_series(db, run_id, ["loss"])["series"]["loss"]
    small = metric_series(db, run_id, ["loss"], max_points=20)["series"]["loss"]
    db.dispose()
    assert scalar(pg_url, "SELECT version_num FROM alembic_version") == HEAD
    assert scalar(pg_url, "SELECT data_type FROM information_schema.columns "
                  "WHERE table_name = 'metrics' AND column_name = 'id'") == "bigint"  # fmt: skip
    assert scalar(pg_url, "SELECT count(*) FROM metric_buckets") == 1000 // 64 + 1
    assert len(full) == 1000 and 2 < len(small) <= 20
    for pick in (min, max):  # the extremes at their steps, from the buckets the migration made
        extreme = pick(full, key=lambda p: p[1])
        assert extreme[:2] in [p[:2] for p in small]

    # The points moved into blocks in their order; the run's cursor is its newest point.
    assert [p[0] for p in full] == list(range(1000))
    assert scalar(pg_url, "SELECT count(*) FROM metric_blocks") == 1  # 1000 old ids: one block
    newest = scalar(pg_url, f"SELECT max(id) FROM metrics WHERE run_id = {run_id}")
    assert scalar(pg_url, f"SELECT last_metric_id FROM runs WHERE id = {run_id}") == newest

    scalar(pg_url, "SELECT setval('metric_blocks_id_seq', 1099511627776)")  # point ids past 2**56
    run = client.init(config={}, db=pg_url, system_metrics=False)
    run.log(0, loss=1.0)
    run.log(1, loss=float("nan"))
    run.finish()
    assert scalar(pg_url, "SELECT max(id) FROM metrics") > 2**56
    db = Database(pg_url)
    assert metric_series(db, run.id, ["loss"])["series"]["loss"][1][:2] == [1, None]
    db.dispose()


OLD_POINTS = """
INSERT INTO metrics (run_id, key, step, value, wall_time)
SELECT :run_id, k, s, CASE WHEN s % 7 = 3 THEN NULL ELSE s * 0.5 END, 10.0 + s
FROM generate_series(0, :steps - 1) AS s, unnest(ARRAY['loss', 'acc']) AS k ORDER BY s, k
"""


def points_by_run_and_key(url: str) -> dict:
    """{(run_id, key): [(step, value, wall_time), ...] in id order}."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT run_id, key, step, value, wall_time FROM metrics "
                                 "ORDER BY id")).all()  # fmt: skip
    engine.dispose()
    found: dict = {}
    for run_id, key, *point in rows:
        found.setdefault((run_id, key), []).append(tuple(point))
    return found


def test_points_move_into_blocks_and_back_unchanged(pg_url):
    migrate_to(pg_url, "0006")
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        runs = [
            conn.execute(
                text("INSERT INTO runs (name, task, status, hparams, config, step, created_at) "
                     "VALUES ('old', 'script', 'completed', '{}', '{}', 0, 1.0) RETURNING id")
            ).scalar()
            for _ in range(2)
        ]  # fmt: skip
        for run_id, steps in zip(runs, (3000, 10), strict=True):  # 6000 ids: two id chunks
            conn.execute(text(OLD_POINTS), {"run_id": run_id, "steps": steps})
        conn.execute(text("UPDATE runs SET last_metric_id = "
                          "(SELECT max(id) FROM metrics WHERE run_id = runs.id)"))  # fmt: skip
    engine.dispose()
    before = points_by_run_and_key(pg_url)
    assert len(before[runs[0], "loss"]) == 3000 and before[runs[0], "loss"][3][1] is None

    migrate_to(pg_url, "0007")
    assert points_by_run_and_key(pg_url) == before
    assert scalar(pg_url, "SELECT count(*) FROM metric_blocks") == 6  # (run 1: 2 keys x 2) + 2
    for run_id in runs:
        newest = scalar(pg_url, f"SELECT max(id) FROM metrics WHERE run_id = {run_id}")
        assert scalar(pg_url, f"SELECT last_metric_id FROM runs WHERE id = {run_id}") == newest
    db = Database(pg_url)
    series = metric_series(db, runs[0], ["loss"], since_id=0)["series"]["loss"]
    db.dispose()
    assert [p[0] for p in series] == list(range(3000))

    migrate_to(pg_url, "0006", down=True)
    assert points_by_run_and_key(pg_url) == before
    assert scalar(pg_url, "SELECT count(*) FROM pg_tables WHERE tablename = 'metrics'") == 1
    newest = scalar(pg_url, f"SELECT max(id) FROM metrics WHERE run_id = {runs[1]}")
    assert scalar(pg_url, f"SELECT last_metric_id FROM runs WHERE id = {runs[1]}") == newest
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO metrics (run_id, key, step, value, wall_time) "
                          f"VALUES ({runs[1]}, 'loss', 10, 1.0, 1.0)"))  # fmt: skip
    engine.dispose()
    migrate_to(pg_url, "head")  # and up again, with the point added on 0006
    assert len(points_by_run_and_key(pg_url)[runs[1], "loss"]) == 11


def test_migrations_build_exactly_the_models_schema_on_postgres(pg_url):
    migrate_to(pg_url, "head")
    engine = create_engine(pg_url)
    with engine.connect() as connection:
        differences = schema_differences(connection)
    engine.dispose()
    assert differences == []


def test_every_connection_is_closed_when_the_app_and_the_run_are_done(pg_url, app, api):
    run = client.init(config={}, db=pg_url, system_metrics=False)
    for step in range(100):
        run.log(step, loss=1.0 / (step + 1))
    run.finish()
    assert len(api.points(run.id, "loss")) == 100
    app.extensions["lernkurve"].shutdown()
    client.open_database(pg_url).dispose()
    name = pg_url.rsplit("/", 1)[1]
    sessions = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'"
    wait_for(lambda: scalar(pg_url.rsplit("/", 1)[0] + "/postgres", sessions) == 0, 10)


# A heavy logger: one burst of HEAVY_STEPS x 50 scalars, as fast as the loop goes.
HEAVY_STEPS = 10_000
HEAVY = """
import sys
from lernkurve.tracking import client
run = client.init(name="heavy", config={}, system_metrics=False)
print(f"run {run.id}", flush=True)
keys = [f"k{i}" for i in range(50)]
for step in range(int(sys.argv[1])):
    run.log({key: step + i for i, key in enumerate(keys)}, step=step)
run.finish()
print(f"logged {int(sys.argv[1]) * len(keys)}", flush=True)
"""
LIGHT_STEPS, LIGHT_DELAY = 400, 0.02
HANG_GUARD = 120  # seconds: catches a hang, not a speed (both end in about 10 s)


def start_script(args: list[str], env: dict, **popen) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-u", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, **popen,
    )  # fmt: skip
    line = proc.stdout.readline()
    assert line.startswith("run "), line + proc.stderr.read()
    return proc, int(line.split()[1])


def stored_ids(url: str, run_id: int) -> list[int]:
    db = Database(url)  # its connections can read SQLite's metrics view
    try:
        with db.engine.connect() as connection:
            query = text("SELECT id FROM metrics WHERE run_id = :run_id ORDER BY id")
            return list(connection.execute(query, {"run_id": run_id}).scalars())
    finally:
        db.dispose()


def test_a_heavy_logger_neither_starves_a_light_runs_stream_nor_interrupts_a_run(
    api, socket_client, db_path, data_dir
):
    """Every light point reaches the watcher, in order, and no live run is shown interrupted.
    How late the light points arrive: benchmarks/bench_writer_load.py (same two scripts)."""
    env = {**os.environ, "LERNKURVE_DB": str(db_path), "LERNKURVE_DATA_DIR": str(data_dir)}
    env["LERNKURVE_PENDING_MB"] = "32"
    # The heavy one starts first and is not waited for: this loop must read the stream all along.
    heavy = subprocess.Popen(
        [sys.executable, "-u", "-c", HEAVY, str(HEAVY_STEPS)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    light, light_id = start_script([str(ROOT / "tests/scripts/paced.py"), str(LIGHT_STEPS),
                                    str(LIGHT_DELAY)], env)  # fmt: skip
    sc = socket_client()
    assert sc.emit("subscribe", {"run_id": light_id, "since_id": 0}, callback=True)["ok"]
    procs = {light_id: light}
    interrupted, seen = [], []

    def read_stream() -> None:
        for message in sc.get_received():
            if message["name"] == "metrics" and message["args"][0]["run_id"] == light_id:
                seen.extend(point[0] for point in message["args"][0]["points"])

    deadline = time.monotonic() + HANG_GUARD
    try:
        while light.poll() is None or heavy.poll() is None:
            assert time.monotonic() < deadline, f"the scripts did not end in {HANG_GUARD} s"
            if len(procs) == 1:
                named = [run["id"] for run in api.runs() if run["name"] == "heavy"]
                procs.update({named[0]: heavy} if named else {})
            read_stream()
            for run_id, proc in procs.items():
                status = api.run(run_id)["status"]
                if proc.poll() is None and status == "interrupted":
                    interrupted.append(run_id)
            time.sleep(0.02)
        heavy_out, heavy_err = heavy.communicate(timeout=30)
        light_out, light_err = light.communicate(timeout=30)
    finally:
        for proc in (heavy, light):
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    assert heavy.returncode == 0, heavy_err[-3000:]
    assert light.returncode == 0, light_err[-3000:]
    assert int(heavy_out.split()[-1]) >= 500_000
    assert not interrupted, "a live run was shown interrupted"
    heavy_id = int(heavy_out.split()[1])
    assert heavy_id in procs and api.run(heavy_id)["status"] == "completed"
    assert api.run(light_id)["status"] == "completed"
    stored = stored_ids(str(db_path), light_id)
    assert len(stored) == 2 * LIGHT_STEPS
    # The last points may still be on their way when the scripts end: wait for them (a guard).
    wait_for(lambda: read_stream() or len(seen) >= len(stored), timeout=HANG_GUARD)
    assert seen == stored


# One of several writers, all started at once: steps of 20 scalars as fast as it goes.
BURSTY = """
import sys
from lernkurve.tracking import client
run = client.init(config={}, system_metrics=False)
print(f"run {run.id}", flush=True)
sys.stdin.readline()  # all writers start together
keys = [f"k{i}" for i in range(20)]
for step in range(int(sys.argv[1])):
    run.log({key: step + i for i, key in enumerate(keys)}, step=step)
run.finish()
"""
WRITERS, WRITER_STEPS = 4, 2500


def test_runs_whose_batches_commit_in_any_order_reach_a_watcher_exactly_once(
    api, socket_client, db_path, data_dir
):
    """Writers of different runs share no lock on PostgreSQL, so their ids commit out of
    order: each run's room gets every point past the client's history exactly once."""
    env = {**os.environ, "LERNKURVE_DB": str(db_path), "LERNKURVE_DATA_DIR": str(data_dir)}
    script = ["-c", BURSTY, str(WRITER_STEPS)]
    writers = dict(
        reversed(start_script(script, env, stdin=subprocess.PIPE)) for _ in range(WRITERS)
    )
    sc = socket_client()
    since, received = {}, {run_id: [] for run_id in writers}
    for run_id in writers:  # as the page does: the history from REST, then the stream
        history = api.get(f"/api/runs/{run_id}/metrics?max_points=500").get_json()
        since[run_id] = history["last_id"]
        assert sc.emit("subscribe", {"run_id": run_id, "since_id": since[run_id]}, callback=True)
    for proc in writers.values():
        proc.stdin.write("go\n")
        proc.stdin.flush()

    def read_stream() -> None:
        for message in sc.get_received():
            if message["name"] == "metrics":
                batch = message["args"][0]
                received[batch["run_id"]].extend(point[0] for point in batch["points"])

    try:
        wait_for(lambda: read_stream() or all(p.poll() is not None for p in writers.values()), 60)
    finally:
        for proc in writers.values():
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate()
            assert proc.returncode == 0, err[-3000:]
    for run_id in writers:
        stored = stored_ids(str(db_path), run_id)
        assert len(stored) == WRITER_STEPS * 20
        stored = [i for i in stored if i > since[run_id]]
        wait_for(lambda: read_stream() or len(received[run_id]) >= len(stored), 30)  # noqa: B023
        missing = len(set(stored) - set(received[run_id]))
        assert received[run_id] == stored, f"run {run_id}: {missing} points never streamed"


def test_a_run_whose_lower_ids_commit_last_still_streams_them(pg_url, api, socket_client):
    """Runs a and c draw their ids first and commit after run b's higher ids were streamed:
    a's room still gets them (a global cursor would have passed them by), and so does a client
    that read c's history while c's batch was open and then subscribed from its ``last_id``."""
    db = Database(pg_url)
    a, b, c = (db.insert_run(name=name, task="script", status="running").id for name in "abc")
    watcher, late = socket_client(), socket_client()
    for run_id in (a, b):
        assert watcher.emit("subscribe", {"run_id": run_id, "since_id": 0}, callback=True)["ok"]
    received = {(watcher, a): [], (watcher, b): [], (late, c): []}

    def arrived(client, run_id: int, count: int) -> bool:
        for message in client.get_received():
            if message["name"] == "metrics":
                batch = message["args"][0]
                received[client, batch["run_id"]].extend(p[2] for p in batch["points"])
        return len(received[client, run_id]) >= count

    def points(run_id: int) -> list[tuple]:
        return [(run_id, "loss", step, 1.0, 0.0) for step in range(100)]

    first = db.engine.connect()
    transaction = first.begin()
    db.order_run_rows(first, [a, c])
    db.insert_metrics(first, points(a) + points(c))
    with db.write() as second:
        db.order_run_rows(second, [b])
        db.insert_metrics(second, points(b))
    wait_for(lambda: arrived(watcher, b, 100), 30)  # the stream has read past a's open ids
    history = api.get(f"/api/runs/{c}/metrics").get_json()
    assert history["series"] == {}
    transaction.commit()
    first.close()
    assert late.emit("subscribe", {"run_id": c, "since_id": history["last_id"]}, callback=True)
    wait_for(lambda: arrived(watcher, a, 100) and arrived(late, c, 100), 30)
    assert all(steps == list(range(100)) for steps in received.values())
    db.dispose()


def blocks_read(url: str, statement: str, params) -> int:
    """How many metric_blocks rows PostgreSQL reads to answer a statement (EXPLAIN ANALYZE)."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params).fetchone()[0]

    def walk(node: dict) -> int:
        own = node.get("Relation Name") == "metric_blocks"
        read = node["Actual Rows"] * node["Actual Loops"] if own else 0
        return read + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan[0]["Plan"])


def test_reads_of_a_few_points_unpack_only_their_blocks(pg_url):
    db = Database(pg_url)
    run_id = db.insert_run(name="many blocks", task="script").id
    for batch in range(100):  # 100 batches: 100 blocks of 10 points
        points = [(s, 1.0 + s, {"loss": float(s)}) for s in range(batch * 10, batch * 10 + 10)]
        rows, _, buckets = expand_points(run_id, points)
        with db.write() as conn:
            db.upsert_buckets(conn, run_id, buckets)
            db.insert_metrics(conn, rows)
    with db.write() as conn:  # as autovacuum would: plans from the table's statistics
        conn.execute(text("ANALYZE metric_blocks"))
    seen = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: seen.append(args[2:4]))
    since = scalar(pg_url, "SELECT id FROM metrics ORDER BY id DESC OFFSET 15 LIMIT 1")
    assert len(metric_series(db, run_id, ["loss"], since_id=since)["series"]["loss"]) == 15
    later = metric_series(db, run_id, ["loss"], since_step=985)["series"]["loss"]
    assert [point[0] for point in later] == list(range(985, 1000))
    assert run_summaries(db, [run_id], "loss", "min")[run_id]["last_step"] == 999
    events = [{"kind": "hparams", "step": 500, "payload": {"changes": {"lr": [0.1, 0.05]}}}]
    assert "impact" in impact.annotate(db, run_id, events)[0]
    reads = [(s, p) for s, p in seen if "FROM metrics" in s]
    seen.clear()
    csv = "".join(csv_lines(db, run_id, chunk=50)).splitlines()
    db.dispose()
    assert [line.split(",")[0] for line in csv[1:]] == [str(s) for s in range(1000)]
    assert len(reads) >= 6  # the newest points, those from a step on, the last value, the
    # impact window's 3 reads
    for statement, params in reads:
        assert blocks_read(pg_url, statement, params) <= 12, statement  # of 100
    # The export's 21 chunks: ~5 blocks each, not every block after the chunk's start each
    # (that would be ~1,000 in all).
    assert sum(blocks_read(pg_url, *read) for read in seen) <= 200
