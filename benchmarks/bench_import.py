#!/usr/bin/env python
"""The TensorBoard import at the sizes an audit tried: many small files, one big file.

    python benchmarks/bench_import.py                  # about 3-5 min on a 2-core machine
    python benchmarks/bench_import.py --files 20000 --points 500000

1. ``--files`` (100,000) small event files (one scalar each) in one run folder, and the same
   number spread over folders of 100 (one run each), imported with ``lernkurve import-tb``
   (``--max-files`` raised to fit); a tenth as many first, to show the time grows linearly
   (before: 10,000 empty files took 332 s, 100,001 were not done after 600 s).
2. One event file of ``--points`` (2,000,000) scalars (88 MB), imported by the command line in
   a process of its own: its peak RSS against the same command importing one small file
   (before: 150 MB -> 1,216 MB), its time, and meanwhile a writer in this process that updates
   a run row every 10 ms (as a training process's heartbeat does): its longest wait for the
   SQLite write lock. Event files are written here record by record (TFRecord framing with
   the importer's own CRC-32C, TensorBoard's Event protobuf).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FILES_GOAL = 120.0  # s for --files small files (one folder)
LINEAR_GOAL = 2.0  # seconds per file at --files vs. at a tenth of it
RSS_GOAL = 150.0  # MB above the same command importing one small file
WAIT_GOAL = 1.0  # s: the longest a heartbeat-like writer waits meanwhile


def event(step: int, value: float) -> bytes:
    from tensorboard.compat.proto import event_pb2, summary_pb2

    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="loss", simple_value=value)])
    return event_pb2.Event(step=step, wall_time=1.7e9 + step, summary=summary).SerializeToString()


def framed(payloads: list[bytes]) -> bytes:
    """TFRecords of the payloads, their checksums computed all at once."""
    import numpy as np

    from lernkurve.importers.tfrecord import _crcs, _masked_np

    headers = b"".join(struct.pack("<Q", len(p)) for p in payloads)
    view = np.frombuffer(headers, dtype=np.uint8)
    count = len(payloads)
    header_crc = _masked_np(_crcs(view, np.arange(count) * 8, np.full(count, 8)))
    data = b"".join(payloads)
    lengths = np.array([len(p) for p in payloads], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    data_crc = _masked_np(_crcs(np.frombuffer(data, dtype=np.uint8), starts, lengths))
    out = []
    for i, payload in enumerate(payloads):
        out.append(headers[8 * i : 8 * i + 8])
        out.append(struct.pack("<I", int(header_crc[i])))
        out.append(payload)
        out.append(struct.pack("<I", int(data_crc[i])))
    return b"".join(out)


def small_files(folder: Path, count: int, per_folder: int | None) -> None:
    for n in range(count):
        where = folder if per_folder is None else folder / f"run{n // per_folder:05}"
        if per_folder is None or n % per_folder == 0:
            where.mkdir(parents=True, exist_ok=True)
        (where / f"events.out.tfevents.{n:09}.bench").write_bytes(framed([event(n, 1.0)]))


def big_file(path: Path, points: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        for start in range(0, points, 100_000):
            steps = range(start, min(start + 100_000, points))
            file.write(framed([event(s, 1.0 / (s + 1)) for s in steps]))


def import_tb(logdir: Path, db: Path, *extra: str) -> tuple[float, float, str]:
    """``lernkurve import-tb`` in a process of its own: the seconds it says the import took
    (from the walk to the last commit, without starting Python), its peak RSS in MB, stderr."""
    command = [sys.executable, "-m", "lernkurve.cli", "import-tb", str(logdir), "--db", str(db)]
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.monotonic()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "seconds = time.monotonic() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(seconds, rss, done.returncode)\n"
        "sys.stderr.write(done.stderr[-3000:])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *command, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    _, rss, code = done.stdout.split()
    said = re.search(r"done in ([0-9.]+) s", done.stderr)
    if code != "0" or said is None:
        raise RuntimeError(f"import-tb exited {code}: {done.stderr}")
    return float(said.group(1)), float(rss), done.stderr


class Heartbeat(threading.Thread):
    """A writer that updates one run row every 10 ms, as a training process's heartbeat."""

    def __init__(self, db_path: Path) -> None:
        super().__init__(daemon=True)
        from sqlalchemy import update

        from lernkurve.store.database import Database
        from lernkurve.store.models import RunRow, now

        self.db = Database(db_path)
        self.row = self.db.insert_run(name="heartbeat", task="bench", status="running")
        self.update, self.RunRow, self.now = update, RunRow, now
        self.waits: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            began = time.monotonic()
            with self.db.write(checkpoint=False) as conn:
                conn.execute(
                    self.update(self.RunRow)
                    .where(self.RunRow.id == self.row.id)
                    .values(heartbeat_at=self.now())
                )
            self.waits.append(time.monotonic() - began)
            time.sleep(0.01)


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, help="small event files")
    parser.add_argument("--points", type=int, default=2_000_000, help="scalars in the big file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    rows, ok = [], True
    with tempfile.TemporaryDirectory(prefix="lernkurve-bench-import-") as tmp:
        tmp = Path(tmp)
        os.environ["LERNKURVE_DATA_DIR"] = str(tmp)
        per_file = {}
        for count in (args.files // 10, args.files):
            for layout, per_folder in (("one folder", None), ("folders of 100", 100)):
                logdir = tmp / f"small-{count}-{per_folder}"
                small_files(logdir, count, per_folder)
                seconds, rss, _ = import_tb(
                    logdir, tmp / f"small-{count}-{per_folder}.db", "--max-files", str(count)
                )
                per_file[count, layout] = seconds / count
                goal, met = "", None
                if count == args.files and layout == "one folder":
                    goal, met = f"<= {FILES_GOAL:g} s", seconds <= FILES_GOAL
                if count == args.files:
                    ratio = per_file[count, layout] / per_file[count // 10, layout]
                    linear = ratio <= LINEAR_GOAL
                    goal += f"{'; ' if goal else ''}x{ratio:.2f} per file vs {count // 10:,}"
                    goal += f" (<= x{LINEAR_GOAL:g})"
                    met = linear if met is None else met and linear
                ok &= met is not False
                rows.append(
                    (
                        f"{count:,} small files, {layout}",
                        f"{seconds:.1f} s",
                        f"{1e6 * seconds / count:.0f} us/file",
                        f"{rss:.0f} MB",
                        goal,
                        "" if met is None else verdict(met),
                    )
                )

        big = tmp / "big" / "events.out.tfevents.1.big"
        big_file(big, args.points)
        small = tmp / "one" / "events.out.tfevents.1.one"
        small.parent.mkdir()
        small.write_bytes(framed([event(0, 1.0)]))
        _, base_rss, _ = import_tb(small.parent, tmp / "base.db")
        db = tmp / "big.db"
        from lernkurve.store.database import Database

        Database(db).dispose()
        heartbeat = Heartbeat(db)
        heartbeat.start()
        seconds, rss, _ = import_tb(big.parent, db)
        heartbeat.done.set()
        heartbeat.join()
        megabytes = big.stat().st_size / 1e6
        met = rss - base_rss <= RSS_GOAL
        ok &= met
        rows.append(
            (
                f"{megabytes:.0f} MB file, {args.points:,} scalars",
                f"{seconds:.1f} s",
                f"{args.points / seconds:,.0f} points/s, {megabytes / seconds:.1f} MB/s",
                f"{rss:.0f} MB ({base_rss:.0f} MB for one small file)",
                f"+{rss - base_rss:.0f} MB (<= +{RSS_GOAL:g} MB)",
                verdict(met),
            )
        )
        waits = sorted(heartbeat.waits)
        longest = waits[-1] if waits else 0.0
        met = longest <= WAIT_GOAL
        ok &= met
        p99 = waits[int(0.99 * (len(waits) - 1))] if waits else 0.0
        rows.append(
            (
                "a heartbeat writer meanwhile (every 10 ms)",
                f"{len(waits):,} writes",
                f"median {1e3 * statistics.median(waits):.1f} ms, p99 {1e3 * p99:.0f} ms",
                "",
                f"longest {1e3 * longest:.0f} ms (<= {WAIT_GOAL * 1e3:.0f} ms)",
                verdict(met),
            )
        )
    load = os.getloadavg()[0]
    print(f"\nTensorBoard import ({os.cpu_count()} CPUs, load {load:.2f}; lernkurve import-tb)")
    header = "| case | time | rate | peak RSS | goal | |"
    print(header + "\n|" + "---|" * (header.count("|") - 1))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
