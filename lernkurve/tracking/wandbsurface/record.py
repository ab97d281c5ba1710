"""What one committed step's values become in a run: numbers are points; text, histograms,
images and tables are records at that step (``log_text``, snapshots, PNG files)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lernkurve.tracking.wandbsurface.media import Histogram, Image, Table
from lernkurve.tracking.wandbsurface.names import Silent, warn_once
from lernkurve.tracking.wandbsurface.summary import number

MAX_CELLS = 100_000  # table cells kept; further rows are left out (the payload says so)
MAX_CELL_TEXT = 10_000


def _one_number(value: Any) -> bool:
    numel = getattr(value, "numel", None)
    if callable(numel):
        return numel() == 1  # a tensor (an accelerator's is read later, by the writer)
    return getattr(value, "size", None) == 1 and hasattr(value, "dtype")  # numpy


def split(values: dict) -> tuple[dict, list[tuple[str, Any]]]:
    """(numbers to log as points, (key, value) of everything else)."""
    scalars: dict = {}
    rest: list[tuple[str, Any]] = []
    for key, value in values.items():
        kind = type(value)
        if kind is float or kind is int or isinstance(value, (int, float)):
            scalars[key] = value
        elif value is None or isinstance(value, Silent):
            continue
        elif not isinstance(value, str) and _one_number(value):
            scalars[key] = value if hasattr(value, "numel") else value.item()
        else:
            rest.append((key, value))
    return scalars, rest


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")[:80] or "image"


def _is_numbers(value: Any) -> bool:
    if hasattr(value, "shape"):
        return True  # an array or tensor of several values
    return isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value)


class Recorder:
    """Records a run's non-number values; images go into ``folder()`` (made when needed)."""

    def __init__(self, run: Any, folder: Callable[[], Path]) -> None:
        self.run = run
        self.folder = folder

    def record(self, key: str, value: Any, step: int) -> None:
        """One value at ``step``; what cannot be recorded warns once by kind."""
        run = self.run
        if isinstance(value, str):
            run.log_text(key, value, step)
        elif isinstance(value, Histogram):
            self._histogram(key, value, step)
        elif isinstance(value, Image):
            self._image(key, value, step)
        elif isinstance(value, Table):
            run.snapshot("table", self._table(key, value, step), step)
        elif (
            isinstance(value, (list, tuple)) and value and all(isinstance(v, Image) for v in value)
        ):
            for index, image in enumerate(value):
                self._image(key, image, step, index)
        elif _is_numbers(value):
            self._histogram(key, Histogram(value), step)
        else:
            warn_once(f"log() of a {type(value).__name__} ({key})", "is not recorded")

    def _histogram(self, key: str, histogram: Histogram, step: int) -> None:
        payload = histogram.payload(key)
        if payload is not None:
            self.run.snapshot("distribution", payload, step)

    def _image(self, key: str, image: Image, step: int, index: int | None = None) -> None:
        path = self._save(key, image, step, index)
        if path is None:
            return
        payload = {
            "key": key,
            "path": path,
            "caption": image.caption,
            "width": image.width,
            "height": image.height,
        }
        if index is not None:
            payload["index"] = index
        self.run.snapshot("image", payload, step)

    def _save(self, key: str, image: Image, step: int, index: Any = None) -> str | None:
        """The PNG written beside the database; None when there is none (it warned)."""
        if image.png is None or self.run.trial is not None or self.run.db is None:
            return None  # no picture; a trial's; a distributed job's other ranks
        tail = "" if index is None else f"-{index}"
        try:
            folder = self.folder()
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{_safe(key)}-{step}{tail}.png"
            path.write_bytes(image.png)
        except OSError as err:
            warn_once(f"Image ({key})", f"could not be saved ({err})")
            return None
        return str(path)

    def _table(self, key: str, table: Table, step: int) -> dict:
        width = max(1, len(table.columns))
        rows = table.data[: max(1, MAX_CELLS // width)]
        data = [
            [self._cell(key, cell, step, f"{r}-{c}") for c, cell in enumerate(row)]
            for r, row in enumerate(rows)
        ]
        payload = {"key": key, "columns": [str(c) for c in table.columns], "data": data}
        return {**payload, "rows": len(table.data)}

    def _cell(self, key: str, cell: Any, step: int, where: str) -> Any:
        if cell is None or isinstance(cell, (bool, int)):
            return cell
        if isinstance(cell, float):
            return cell if math.isfinite(cell) else None
        if isinstance(cell, str):
            return cell[:MAX_CELL_TEXT]
        if isinstance(cell, Image):
            path = self._save(f"{key}-cell", cell, step, where)
            return {"image": path, "caption": cell.caption}
        if _one_number(cell):
            return self._cell(key, number(cell), step, where)
        return str(cell)[:MAX_CELL_TEXT]
