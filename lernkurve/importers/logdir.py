"""A TensorBoard logdir imported as runs: each folder with event files becomes one run, all of
it or nothing, and importing again reads only the bytes each file has gained since.

The walk is bounded (``Limits``), the records are streamed into the store in batches (memory
stays flat whatever the file's size), and each run is held by one import at a time, so imports
of the same folder running at once store every point once.
"""

from __future__ import annotations

import os
import stat
import time
import uuid
from pathlib import Path
from threading import Event

from lernkurve.importers import runs
from lernkurve.importers.events import NotAnEvent, ScalarParser, metric_key, require
from lernkurve.importers.report import Progress, Report
from lernkurve.importers.tfrecord import CorruptRecord, read_records
from lernkurve.importers.walk import Limits, RunFolder, Stopped, check_time, find_runs
from lernkurve.store.columns import columns_of, stored_key

FLUSH_SECONDS = 1.0  # points wait at most this long before they are written (and the run beats)
WAIT_POLL = 0.2  # seconds between looks at a run another import holds


class FileFailed(Exception):
    """An event file that cannot be imported: where and why."""

    def __init__(self, path: Path, offset: int | None, message: str) -> None:
        super().__init__(message)
        self.path, self.offset, self.message = path, offset, message


def run_import(
    logdir: str | os.PathLike,
    db=None,
    limits: Limits | None = None,
    progress: Progress | None = None,
    cancel: Event | None = None,
) -> Report:
    """Import every run under ``logdir``; again later, only what is new. ``db``: a Database, a
    path or URL (default: as the app). Raises FileNotFoundError for no such folder and
    ImportError (one line: what to install) without TensorBoard; all else is in the report."""
    from lernkurve.store.database import Database

    require()
    root = Path(logdir).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {logdir}")
    database = db if isinstance(db, Database) else Database(db)
    limits = limits or Limits()
    progress = progress or Progress()
    report = Report(str(root))
    deadline = time.monotonic() + limits.max_seconds
    walk = find_runs(root, limits, report.notes, deadline, cancel)
    progress.update(
        phase="importing",
        runs_found=len(walk.folders),
        files_found=walk.files,
        bytes_total=sum(f.size for folder in walk.folders for f in folder.files),
    )
    if walk.bound and walk.bound["name"] == "cancelled":
        report.cancelled = True
        progress.update(phase="done")
        return report
    report.bound = walk.bound
    importer = _Importer(database, root, limits, progress, cancel, deadline, report)
    for folder in walk.folders:
        try:
            importer.folder(folder)
        except Stopped as stop:
            if stop.name == "cancelled":
                report.cancelled = True
            else:
                report.bound = {"name": stop.name, "message": stop.message}
            break
        progress.add(runs_done=1)
    progress.update(phase="done", current=None, waiting=False)
    return report


class _Importer:
    def __init__(self, db, root, limits, progress, cancel, deadline, report) -> None:
        self.db, self.root, self.limits = db, root, limits
        self.progress, self.cancel, self.deadline, self.report = progress, cancel, deadline, report
        self.index = runs.load_index(db)
        self.bytes_read = 0

    def name_of(self, folder: Path) -> str:
        base = self.root.name or str(self.root)
        return base if folder == self.root else f"{base}/{folder.relative_to(self.root)}"

    def check(self) -> None:
        check_time(self.deadline, self.limits, self.cancel)

    def folder(self, folder: RunFolder) -> None:
        path, name = str(folder.path), self.name_of(folder.path)
        self.check()
        self.progress.update(current=name)
        run_id, offsets, stored_name = self._known(path)
        if offsets is not None and all(f.size == offsets.get(f.name, 0) for f in folder.files):
            self.report.runs.append(self._result(run_id, stored_name, path, 0, False))
            self.progress.add(files_done=len(folder.files))
            return
        if run_id is None and not any(f.size for f in folder.files):
            self.report.notes.add(path, "its event files are empty: no run made")
            self.progress.add(files_done=len(folder.files))
            return
        offsets = offsets or {}
        new_bytes = sum(max(f.size - offsets.get(f.name, 0), 0) for f in folder.files)
        if self.bytes_read + new_bytes > self.limits.max_bytes:
            raise Stopped(
                "max_bytes",
                f"stopped at {self.limits.max_bytes:,} bytes (max_bytes): {name} would read "
                f"{new_bytes:,} more after {self.bytes_read:,}",
            )
        claim = self._claim(path, name)
        try:
            if claim.recover:
                runs.recover(self.db, claim)
            added = _RunReader(self, claim, folder).read()
        except FileFailed as failed:
            self._put_back(claim, path)
            self.report.fail(name, str(failed.path), failed.offset, _located(failed))
            return
        except runs.ClaimLost as lost:
            self._put_back(claim, path)
            self.report.fail(name, path, None, str(lost))
            return
        except Exception as err:  # the database refused, or a bug: this run, not the rest
            self._put_back(claim, path)
            if isinstance(err, Stopped):  # cancelled or a bound: the run as it was, then stop
                raise
            self.report.fail(name, path, None, f"{type(err).__name__}: {err}")
            return
        except BaseException:  # Ctrl-C
            self._put_back(claim, path)
            raise
        if added is not None:
            shown = name if claim.new else claim.name
            self.report.runs.append(self._result(claim.run_id, shown, path, added, claim.new))

    def _put_back(self, claim: runs.Claim, path: str) -> None:
        """The run as it was before this import; should the database refuse even that, the
        next import of the folder does it (the claim is let go either way)."""
        try:
            runs.put_back(self.db, claim, self.index, path)
        except Exception as err:  # noqa: BLE001 - said in the report, not raised over the cause
            self.report.fail(
                claim.name or path, path, None, f"could not put the run back yet: {err}"
            )

    def _known(self, path: str) -> tuple[int | None, dict | None, str]:
        """The folder's run, the bytes of each file imported before and the run's name;
        offsets None when there is no run yet, or only a claim can tell (imported by an
        older release, or held by another import)."""
        for run_id in self.index.ids(path):
            state = runs.stored_state(self.db, run_id)
            if state is None:
                continue
            config, name = state
            files = config.get("files")
            if not isinstance(files, dict) or runs.CLAIM in config:
                return run_id, None, name
            return run_id, files, name
        return None, None, ""

    def _claim(self, path: str, name: str) -> runs.Claim:
        owner = uuid.uuid4().hex
        while True:
            claim = runs.claim_run(self.db, self.index, path, name, owner)
            if isinstance(claim, runs.Claim):
                self.progress.update(waiting=False)
                return claim
            self.progress.update(waiting=True)
            self.check()
            time.sleep(WAIT_POLL)

    @staticmethod
    def _result(run_id: int, name: str, path: str, added: int, new: bool) -> dict:
        return {"run_id": run_id, "name": name, "path": path, "added": added, "new": new}


def _located(failed: FileFailed) -> str:
    where = "" if failed.offset is None else f" at byte {failed.offset:,}"
    return f"{failed.path}{where}: {failed.message}"


class _RunReader:
    """One claimed run's new records read, file by file, and written in batches."""

    def __init__(self, importer: _Importer, claim: runs.Claim, folder: RunFolder) -> None:
        self.importer, self.claim, self.folder = importer, claim, folder
        self.db, self.progress = importer.db, importer.progress
        self.parser = ScalarParser(set(claim.tags))
        self.seen = runs.seen_points(self.db, claim.run_id) if claim.legacy else None
        self.keys: dict[str, str] = {}
        self.pending: list[tuple] = []
        self.added = 0
        self.high = self.first = self.last = None  # highest step, first and last wall time
        self.last_write = time.monotonic()
        self.at = 0  # the offset reached in the file being read

    def read(self) -> int | None:
        """Points added; None when the run was new and no scalar was found (it is deleted)."""
        offsets = dict(self.claim.files)
        for event_file in self.folder.files:
            start = offsets.get(event_file.name, 0)
            path = self.folder.path / event_file.name
            end = self._read_file(path, start)
            if end is not None:
                offsets[event_file.name] = end
            self.progress.add(files_done=1)
        self._write()
        if self.claim.new and not self.added:
            runs.put_back(self.db, self.claim, self.importer.index, str(self.folder.path))
            self.importer.report.notes.add(self.folder.path, "no scalars in it: no run made")
            return None
        seen = {"step": self.high, "first_wall": self.first, "last_wall": self.last}
        runs.finish(self.db, self.claim, offsets, self.parser.scalar_tags, seen)
        return self.added

    def _read_file(self, path: Path, start: int) -> int | None:
        """Read one file from ``start``; the offset reached, or None when it was not read."""
        try:  # O_NONBLOCK: a FIFO put here since the walk must not hang this thread
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as err:
            raise FileFailed(path, None, f"could not open it: {err.strerror or err}") from err
        with os.fdopen(fd, "rb", buffering=0) as file:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                self.importer.report.notes.add(path, "not a regular file any more: not read")
                return None
            if info.st_size < start:
                raise FileFailed(
                    path,
                    None,
                    f"it has {info.st_size:,} bytes, fewer than the {start:,} imported before "
                    "(rewritten?): delete the run to import it again",
                )
            self.importer.bytes_read += info.st_size - start
            self.at = after = start
            try:
                for count, (record_at, after, data) in enumerate(
                    read_records(file, start, info.st_size), 1
                ):
                    if data is not None:
                        try:
                            scalars = self.parser.scalars(data)
                        except NotAnEvent as err:
                            raise FileFailed(path, record_at, str(err)) from err
                        self._take(scalars)
                    if count % 1024 == 0:
                        self._tick(after)
            except CorruptRecord as err:
                raise FileFailed(path, err.offset, err.reason) from err
            except OSError as err:
                raise FileFailed(path, after, f"could not read it: {err.strerror}") from err
            self._tick(info.st_size)
            return info.st_size

    def _take(self, scalars: list[tuple[str, int, float, float]]) -> None:
        keys, pending, seen = self.keys, self.pending, self.seen
        for tag, step, wall, value in scalars:
            key = keys.get(tag)
            if key is None:
                key = keys[tag] = metric_key(tag)
            if seen is not None and ((key, step) in seen or (stored_key(tag), step) in seen):
                continue
            pending.append((step, wall, {key: value}))
            if self.high is None or step > self.high:
                self.high = step
            if self.first is None or wall < self.first:
                self.first = wall
            if self.last is None or wall > self.last:
                self.last = wall
        if len(pending) >= self.db.batch_points:
            self._write()

    def _tick(self, at: int) -> None:
        """Every thousand records: bytes read so far, the bounds, a write or a heartbeat."""
        self.progress.add(bytes_done=at - self.at)
        self.at = at
        self.importer.check()
        if time.monotonic() - self.last_write >= FLUSH_SECONDS:
            if self.pending:
                self._write()
            else:
                runs.beat(self.db, self.claim)
                self.last_write = time.monotonic()

    def _write(self) -> None:
        if self.pending:
            columns = columns_of(self.pending)
            runs.write_points(self.db, self.claim, columns)
            self.added += columns.count
            self.progress.add(points=columns.count)
            self.pending = []
        self.last_write = time.monotonic()


def import_logdir(logdir: str | os.PathLike, db=None, **limits) -> list[dict]:
    """Import every run under ``logdir``; again later, only points not imported yet.

    Returns one ``{"run_id", "name", "path", "added", "new"}`` per run folder. ``limits``:
    ``max_files``, ``max_bytes``, ``max_seconds`` (see Limits). Raises ImportProblem (its
    ``report`` holds the runs imported anyway) when a file failed or a bound stopped it.
    """
    report = run_import(logdir, db, Limits(**limits))
    if report.errors or report.bound or report.cancelled:
        raise ImportProblem(report)
    return report.runs


class ImportProblem(Exception):
    """Not everything under the logdir was imported: the report says what was and why."""

    def __init__(self, report: Report) -> None:
        lines = [report.message()] + [e["message"] for e in report.errors]
        super().__init__("\n".join(lines))
        self.report = report
