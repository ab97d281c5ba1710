"""The TensorBoard import and the files it must not trust: FIFOs, folders named like event
files, records that lie about their length, random bytes, cut-off files, long tags, a bad run
beside a good one. Each run is imported whole or not at all, and each problem is named."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("tensorboard")

from sqlalchemy import select, text  # noqa: E402
from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: E402
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c  # noqa: E402
from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: E402

from lernkurve.importers.tensorboard import metric_key, run_import  # noqa: E402
from lernkurve.importers.tfrecord import read_records  # noqa: E402
from lernkurve.store.database import Database  # noqa: E402
from lernkurve.store.models import RunRow  # noqa: E402
from support import wait_for  # noqa: E402


@pytest.fixture
def db(db_path):
    database = Database(db_path)
    yield database
    database.dispose()


def scalar(tag: str, step: int, value: float) -> event_pb2.Event:
    value = summary_pb2.Summary.Value(tag=tag, simple_value=value)
    return event_pb2.Event(
        step=step, wall_time=1.7e9 + step, summary=summary_pb2.Summary(value=[value])
    )


def write_run(folder: Path, steps=range(100), tags=("loss",), suffix: str = "") -> Path:
    """One event file written by TensorBoard's own writer; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    before = set(folder.iterdir())
    writer = EventFileWriter(str(folder), filename_suffix=suffix)
    for step in steps:
        for tag in tags:
            writer.add_event(scalar(tag, step, 1.0 / (step + 1)))
    writer.close()
    [path] = set(folder.iterdir()) - before
    return path


def record(data: bytes, length: int | None = None) -> bytes:
    """One TFRecord, its length field as given (a lie, if asked for) with a right checksum."""
    header = struct.pack("<Q", len(data) if length is None else length)
    return (
        header
        + struct.pack("<I", masked_crc32c(header))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


def counts(db) -> dict[str, int]:
    """Points per run name."""
    sql = (
        "SELECT r.name, count(m.id) FROM runs r LEFT JOIN metrics m ON m.run_id = r.id"
        " GROUP BY r.name"
    )
    with db.engine.connect() as conn:
        return dict(conn.execute(text(sql)).all())


def statuses(db) -> dict[str, str]:
    with db.engine.connect() as conn:
        return dict(conn.execute(text("SELECT name, status FROM runs")).all())


def in_thread(function, timeout: float = 30.0):
    """function() in a thread; its result, or a failure if it has not ended in time."""
    out = {}
    thread = threading.Thread(target=lambda: out.update(value=function()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"still running after {timeout} s"
    return out["value"]


def test_a_fifo_named_like_an_event_file_is_never_opened_even_when_it_gets_data(db, tmp_path):
    logs = tmp_path / "logs"
    write_run(logs / "good")
    fifos = [logs / "good" / "events.out.tfevents.2.fifo", logs / "pipe" / "events.out.tfevents.1"]
    fifos[1].parent.mkdir()
    for fifo in fifos:
        os.mkfifo(fifo)
    opened, done = [], threading.Event()

    def feed():  # a writer that fills each FIFO with junk as soon as anyone opens it to read
        while not done.is_set():
            for fifo in fifos:
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    continue  # no reader: nobody opened it
                opened.append(fifo)
                with contextlib.suppress(OSError):
                    os.write(fd, os.urandom(4096))
                os.close(fd)
            time.sleep(0.005)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        report = in_thread(lambda: run_import(logs, db))
    finally:
        done.set()
        feeder.join(5)
    assert opened == []
    assert report.errors == [] and [r["name"] for r in report.runs] == ["logs/good"]
    skipped = {Path(n["path"]): n["reason"] for n in report.notes.items}
    assert set(skipped) == set(fifos) and all("FIFO" in reason for reason in skipped.values())
    assert counts(db) == {"logs/good": 100}


def test_a_folder_named_like_an_event_file_is_not_read_as_one(db, tmp_path):
    logs = tmp_path / "logs"
    write_run(logs)
    (logs / "events.out.tfevents.123.host").mkdir()
    report = run_import(logs, db)
    assert report.errors == [] and report.runs[0]["added"] == 100
    [note] = report.notes.items
    assert note["path"].endswith("events.out.tfevents.123.host") and "folder" in note["reason"]


def test_a_record_claiming_2_to_the_46_bytes_is_corruption_not_an_allocation(db, tmp_path):
    logs = tmp_path / "logs"
    write_run(logs / "good")
    liar = logs / "liar" / "events.out.tfevents.1.liar"
    liar.parent.mkdir()
    liar.write_bytes(record(b"x" * 96, length=2**46))
    assert liar.stat().st_size == 112
    report = run_import(logs, db)
    [error] = report.errors
    assert error["run"] == "logs/liar" and error["path"] == str(liar) and error["offset"] == 0
    assert "70,368,744,177,664 bytes" in error["message"] and "96 left" in error["message"]
    assert counts(db) == {"logs/good": 100}


def test_random_bytes_never_become_an_empty_completed_run(db, tmp_path):
    logs = tmp_path / "logs"
    (logs / "noise").mkdir(parents=True)
    noise = logs / "noise" / "events.out.tfevents.1.noise"
    noise.write_bytes(os.urandom(4096))
    report = run_import(logs, db)
    assert report.runs == [] and counts(db) == {}
    [error] = report.errors
    assert error["path"] == str(noise) and error["offset"] == 0
    assert "checksum" in error["message"] or "claims" in error["message"]
    # checksums right, but not an Event inside
    noise.write_bytes(record(b"\xff" * 40))
    [error] = run_import(logs, db).errors
    assert error["offset"] == 0 and "not a TensorBoard event" in error["message"]
    assert counts(db) == {}


def test_a_truncated_file_is_named_with_the_offset_of_its_cut_record_and_not_imported(db, tmp_path):
    logs = tmp_path / "logs"
    path = write_run(logs)
    with path.open("rb") as file:
        offsets = [offset for offset, _, _ in read_records(file, 0, path.stat().st_size)]
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size - 10)
    report = run_import(logs, db)
    assert report.runs == [] and counts(db) == {}  # not 99 of 100 points without a word
    [error] = report.errors
    assert error["path"] == str(path) and error["offset"] == offsets[-1]
    assert f"at byte {offsets[-1]:,}" in error["message"] and "truncated" in error["message"]


def test_a_good_folder_beside_a_bad_one_is_imported_and_the_bad_one_reported(api, tmp_path):
    logs = tmp_path / "partial"
    write_run(logs / "a")
    (logs / "b").mkdir()
    (logs / "b" / "events.out.tfevents.1.bad").write_bytes(os.urandom(300))
    response = api.post("/api/import/tensorboard", json={"logdir": str(logs)})
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job"]["id"]

    def ended():
        job = api.get(f"/api/import/tensorboard/{job_id}").get_json()["job"]
        return job["state"] != "running" and job

    job = wait_for(ended, 30)
    assert job["state"] == "done"
    assert [(r["name"], r["added"]) for r in job["runs"]] == [("partial/a", 100)]
    [error] = job["errors"]
    assert error["run"] == "partial/b" and error["offset"] == 0
    assert "events.out.tfevents.1.bad" in error["message"] and "at byte 0" in error["message"]
    assert [(r["name"], r["status"]) for r in api.runs()] == [("partial/a", "completed")]


def buckets(db) -> list[tuple]:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT * FROM metric_buckets ORDER BY run_id, key, bucket")).all()


def run_rows(db) -> list[tuple]:
    sql = "SELECT id, name, status, step, started_at, ended_at, config, last_metric_id FROM runs"
    with db.engine.connect() as conn:
        return conn.execute(text(sql)).all()


def test_a_failed_file_leaves_the_run_as_it_was_before(db, tmp_path):
    logs = tmp_path / "logs"
    write_run(logs, steps=range(100))
    run_import(logs, db)
    before = (counts(db), buckets(db), run_rows(db))
    write_run(logs, steps=range(100, 20_000), suffix=".b")  # good, and 4 batches
    bad = logs / "events.out.tfevents.9999999999.z"  # sorts last: read after the good one
    bad.write_bytes(record(scalar("loss", 1, 1.0).SerializeToString())[:-3])
    report = run_import(logs, db)
    assert report.runs == [] and report.errors[0]["path"] == str(bad)
    assert (counts(db), buckets(db), run_rows(db)) == before
    bad.unlink()
    [run] = run_import(logs, db).runs
    assert run["added"] == 19_900 and counts(db) == {"logs": 20_000}
    assert statuses(db) == {"logs": "completed"}


def test_a_tag_over_100_characters_keeps_a_stable_key_and_is_never_duplicated(db, tmp_path):
    logs = tmp_path / "logs"
    long_a, long_b = "a" * 95 + "/first/tag", "a" * 95 + "/other/tag"
    write_run(logs, steps=range(10), tags=(long_a, long_b, "loss"))
    assert run_import(logs, db).runs[0]["added"] == 30
    for _ in range(2):
        assert run_import(logs, db).runs[0]["added"] == 0
    forget_offsets(db, logs)  # as an older release left it: new points told by key and step
    assert run_import(logs, db).runs[0]["added"] == 0
    write_run(logs, steps=range(10, 15), tags=(long_a,), suffix=".more")
    assert run_import(logs, db).runs[0]["added"] == 5
    with db.engine.connect() as conn:
        keys = dict(conn.execute(text("SELECT key, count(*) FROM metrics GROUP BY key")).all())
    assert keys == {metric_key(long_a): 15, metric_key(long_b): 10, "loss": 10}
    assert all(
        len(key) == 100 and key[91] == "~" for key in (metric_key(long_a), metric_key(long_b))
    )
    assert metric_key(long_a).startswith("a" * 91) and metric_key(long_a) != metric_key(long_b)


def forget_offsets(db, logs: Path) -> None:
    """The run's config as the importer before this one kept it: no offsets of files."""
    with db.write() as conn:
        conn.execute(
            text("UPDATE runs SET config = :c"),
            {"c": json.dumps({"source": "tensorboard", "path": str(logs), "tags": ["loss"]})},
        )


def test_a_run_imported_by_an_older_release_gets_only_new_points(db, tmp_path):
    logs = tmp_path / "logs"
    write_run(logs, steps=range(50))
    run_import(logs, db)
    forget_offsets(db, logs)
    write_run(logs, steps=range(50, 60), suffix=".more")
    assert run_import(logs, db).runs[0]["added"] == 10
    assert counts(db) == {"logs": 60}
    assert run_import(logs, db).runs[0]["added"] == 0
    with db.engine.connect() as conn:  # from now on each file's imported bytes are kept
        config = conn.execute(select(RunRow.config)).scalar()
    assert config["files"] == {path.name: path.stat().st_size for path in logs.iterdir()}


def test_an_event_file_that_shrank_is_named_and_the_run_kept(db, tmp_path):
    logs = tmp_path / "logs"
    path = write_run(logs)
    run_import(logs, db)
    before = run_rows(db)
    shutil.copy(path, tmp_path / "copy")
    with path.open("r+b") as file:
        file.truncate(100)
    [error] = run_import(logs, db).errors
    assert error["path"] == str(path) and "fewer than" in error["message"]
    assert run_rows(db) == before and counts(db) == {"logs": 100}
