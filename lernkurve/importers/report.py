"""What an import did and is doing: its progress while it runs (read from other threads) and
its report at the end: the runs, the files that failed (by name and byte offset), what was
skipped, and the bound that stopped it, if any."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from lernkurve.importers.walk import MAX_NOTES, Notes


@dataclass
class Progress:
    """Counters an import moves forward; ``snapshot`` reads them from another thread."""

    phase: str = "walking"  # walking -> importing -> done
    runs_found: int = 0
    runs_done: int = 0
    files_found: int = 0
    files_done: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    points: int = 0
    current: str | None = None  # the run folder being imported
    waiting: bool = False  # for another import that holds the current run
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict:
        with self.lock:
            return {
                key: getattr(self, key)
                for key in (
                    "phase",
                    "runs_found",
                    "runs_done",
                    "files_found",
                    "files_done",
                    "bytes_total",
                    "bytes_done",
                    "points",
                    "current",
                    "waiting",
                )
            }

    def update(self, **values) -> None:
        with self.lock:
            for key, value in values.items():
                setattr(self, key, value)

    def add(self, **values: int) -> None:
        with self.lock:
            for key, value in values.items():
                setattr(self, key, getattr(self, key) + value)


@dataclass
class Report:
    logdir: str
    runs: list[dict] = field(default_factory=list)  # {"run_id", "name", "path", "added", "new"}
    errors: list[dict] = field(default_factory=list)  # {"run", "path", "offset", "message"}
    notes: Notes = field(default_factory=Notes)
    bound: dict | None = None  # {"name", "message"}: what stopped the import early
    cancelled: bool = False

    def fail(self, run: str, path: str, offset: int | None, message: str) -> None:
        if len(self.errors) < MAX_NOTES:
            self.errors.append({"run": run, "path": path, "offset": offset, "message": message})

    @property
    def added(self) -> int:
        return sum(run["added"] for run in self.runs)

    def message(self) -> str:
        """One line that says what happened."""
        if not self.runs and not self.errors and not self.bound and not self.cancelled:
            return f"no TensorBoard event files under {self.logdir}"
        new = sum(1 for run in self.runs if run["new"])
        parts = [f"{len(self.runs)} run(s) imported ({new} new), {self.added:,} point(s) added"]
        if self.errors:
            parts.append(f"{len(self.errors)} run(s) not imported (see errors)")
        if self.cancelled:
            parts.append("cancelled: the run being imported was put back as it was")
        elif self.bound:
            parts.append(self.bound["message"])
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {
            "logdir": self.logdir,
            "runs": self.runs,
            "errors": self.errors,
            "skipped": self.notes.items,
            "skipped_more": self.notes.more,
            "bound": self.bound,
            "cancelled": self.cancelled,
            "message": self.message(),
        }

    @property
    def ok(self) -> bool:
        return not self.errors and not self.bound and not self.cancelled and bool(self.runs)
