"""Finding TensorBoard runs: the folders under a logdir that hold event files, in one bounded,
linear walk. Only regular files are taken (a FIFO, device or socket named like an event file is
noted and never opened); links to folders are not followed."""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from threading import Event

ENTRIES_PER_FILE = 100  # the walk looks at most at max_files x this many entries of any kind
MAX_NOTES = 100  # notes kept in a report; more are counted


@dataclass
class Limits:
    """How far one import may go: event files found, bytes read, seconds in all."""

    max_files: int = 10_000
    max_bytes: int = 1 << 30
    max_seconds: float = 600.0

    BOUNDS = {  # name: (lowest, highest) a caller may set
        "max_files": (1, 10_000_000),
        "max_bytes": (1, 1 << 50),
        "max_seconds": (0.1, 7 * 24 * 3600),
    }


@dataclass(slots=True)
class EventFile:
    name: str
    size: int


@dataclass
class RunFolder:
    path: Path
    files: list[EventFile]


@dataclass
class Notes:
    """What was skipped, and why, up to MAX_NOTES of them (the rest only counted)."""

    items: list[dict] = field(default_factory=list)
    more: int = 0

    def add(self, path: str | Path, reason: str) -> None:
        if len(self.items) < MAX_NOTES:
            self.items.append({"path": str(path), "reason": reason})
        else:
            self.more += 1


@dataclass
class Walk:
    folders: list[RunFolder]
    files: int
    bound: dict | None = None  # {"name", "message"} when the walk stopped early


class Stopped(Exception):
    """A bound was reached (or the import was cancelled): what stops it, in words."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name, self.message = name, message


def kind_of(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def is_event_file(name: str) -> bool:
    return "tfevents" in name  # as TensorBoard itself finds them


def check_time(deadline: float, limits: Limits, cancel: Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Stopped("cancelled", "cancelled")
    if time.monotonic() > deadline:
        raise Stopped(
            "max_seconds",
            f"stopped after {limits.max_seconds:g} s (max_seconds)",
        )


def find_runs(
    root: Path, limits: Limits, notes: Notes, deadline: float, cancel: Event | None = None
) -> Walk:
    """The run folders under ``root`` (itself included), sorted, each with its event files.

    Stops at max_files event files or max_files x ENTRIES_PER_FILE entries looked at, at the
    deadline or on cancel; a folder whose files go past a bound is left out whole (a run is
    imported with all its files or not at all)."""
    folders: list[RunFolder] = []
    found = looked = 0
    max_entries = limits.max_files * ENTRIES_PER_FILE
    stack = [root]
    try:
        while stack:
            folder = stack.pop()
            check_time(deadline, limits, cancel)
            files: list[EventFile] = []
            subfolders: list[str] = []
            try:
                with os.scandir(folder) as listing:  # one entry at a time: a huge folder
                    for entry in listing:  # costs only what it holds of runs
                        looked += 1
                        if looked > max_entries:
                            raise Stopped(
                                "max_files",
                                f"stopped after looking at {max_entries:,} entries "
                                f"({ENTRIES_PER_FILE} x max_files)",
                            )
                        if looked % 1024 == 0:
                            check_time(deadline, limits, cancel)
                        found_file = _look_at(entry, subfolders, notes)
                        if found_file is not None:
                            if found + len(files) >= limits.max_files:
                                raise Stopped(
                                    "max_files",
                                    f"stopped at {limits.max_files:,} event files (max_files)",
                                )
                            files.append(found_file)
            except OSError as err:
                notes.add(folder, f"could not list it: {err.strerror or err}")
                continue
            found += len(files)
            if files:
                folders.append(RunFolder(folder, sorted(files, key=lambda f: f.name)))
            stack.extend(folder / name for name in sorted(subfolders, reverse=True))
    except Stopped as stop:
        return Walk(sorted(folders, key=lambda f: f.path.parts), found, _bound(stop, folders))
    return Walk(sorted(folders, key=lambda f: f.path.parts), found)


def _look_at(entry: os.DirEntry, subfolders: list[str], notes: Notes) -> EventFile | None:
    """An entry of a folder: a subfolder is kept to walk, a regular event file returned,
    anything else named like an event file noted."""
    try:
        is_dir = entry.is_dir(follow_symlinks=False)
    except OSError:
        is_dir = False
    if is_dir:
        subfolders.append(entry.name)
        if is_event_file(entry.name):
            notes.add(entry.path, "a folder named like an event file: not read")
        return None
    if not is_event_file(entry.name):
        return None
    try:
        info = entry.stat()  # a link to a regular file counts as one
    except OSError as err:
        notes.add(entry.path, f"could not look at it: {err.strerror or err}")
        return None
    if not stat.S_ISREG(info.st_mode):
        notes.add(entry.path, f"{kind_of(info.st_mode)}, not a regular file: not read")
        return None
    return EventFile(entry.name, info.st_size)


def _bound(stop: Stopped, folders: list[RunFolder]) -> dict:
    done = f"; the walk found {len(folders):,} run folder(s) before it"
    return {"name": stop.name, "message": stop.message + done}
