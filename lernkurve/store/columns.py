"""Log calls turned into columns: a run's batch of (step, wall_time, {key: value}) entries as
{key: (steps, values, walls)} arrays, with the values that were not finite and each key's
min/max per 2**BUCKET_SHIFT steps (the chart buckets).

Calls that log the same keys are converted together by numpy, so the writer does no Python
work per point: that work competed with the training loop for the GIL. Only a call holding
a value that is not a number (dropped with a warning, as before) goes the slow way.
"""

from __future__ import annotations

import logging
import math
import struct
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from lernkurve.store.blockcodec import as_list, numpy_or_none
from lernkurve.store.models import BUCKET_SHIFT

log = logging.getLogger(__name__)
NOT_A_NUMBER = "lernkurve: %s=%r at step %s is not a number; dropped"
MAX_KEY = 100  # metric_blocks.key is VARCHAR(100)


def stored_key(key: object) -> str:
    """A key as the database keeps it: text, at most MAX_KEY characters, no NUL (PostgreSQL
    text holds none)."""
    return str(key)[:MAX_KEY].replace("\0", "\ufffd")


@dataclass
class Columns:
    """One run's batch, ready to store: arrays per key, the non-finite values, the buckets."""

    keys: dict[str, tuple[Any, Any, Any]] = field(default_factory=dict)  # (steps, values, walls)
    bad: list[tuple[int, str, float]] = field(default_factory=list)  # (step, key, value)
    buckets: dict[tuple[str, int], list] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(steps) for steps, _, _ in self.keys.values())

    def rows(self, run_id: int) -> list[tuple]:
        """(run_id, key, step, value, wall_time) rows, a key's points together (None for NaN)."""
        out = []
        for key, (steps, values, walls) in self.keys.items():
            points = zip(as_list(steps), as_list(values), as_list(walls), strict=True)
            out += [(run_id, key, s, None if v != v else v, w) for s, v, w in points]
        return out


def columns_of(points: list[tuple], float32: bool = False) -> Columns:
    """The batch's log calls as columns (see the module's docstring); with ``float32`` the
    values are rounded to float32 (where float32 reaches them), as the run asked."""
    np = numpy_or_none()
    if np is None:
        return _columns_plain(points, float32)
    result = Columns()
    if not points:
        return result
    steps, walls, dicts = zip(*points, strict=True)  # C loops from here: nothing per point
    steps = np.array(steps, dtype=np.int64)
    walls = np.array(walls, dtype=np.float64)
    parts: dict[str, list[tuple]] = {}
    for keys, rows in _groups(dicts):
        taken = dicts if isinstance(rows, slice) else [dicts[i] for i in rows.tolist()]
        converted = _convert(keys, taken, steps[rows], walls[rows])
        if converted is None:
            converted = _convert_one_by_one(keys, [points[i] for i in _indices(rows, points)])
        for key, key_steps, values, key_walls in converted:
            parts.setdefault(stored_key(key), []).append((key_steps, values, key_walls))
    for key, pieces in parts.items():
        steps, values, walls = (np.concatenate(part) for part in zip(*pieces, strict=True))
        result.bad += _non_finite(key, steps, values)
        if float32:
            values = _rounded_to_float32(values)
        result.keys[key] = (steps, values, walls)
        result.buckets.update(_buckets(key, steps, values, walls))
    return result


def _groups(dicts: tuple[dict, ...]) -> list[tuple[tuple, Any]]:
    """(keys, rows) of the log calls that log the same keys, each group in call order; rows
    index the batch (a slice when every call logs the same keys, as most loops do)."""
    import numpy as np

    signatures = list(map(tuple, dicts))
    first = signatures[0]
    if signatures.count(first) == len(signatures):
        return [(first, slice(None))]
    codes: dict[tuple, int] = {}
    numbered = np.array([codes.setdefault(keys, len(codes)) for keys in signatures])
    return [(keys, np.flatnonzero(numbered == code)) for keys, code in codes.items()]


def _indices(rows: Any, points: list) -> list[int]:
    return list(range(len(points))) if isinstance(rows, slice) else rows.tolist()


def _convert(keys: tuple, dicts: Any, steps: Any, walls: Any) -> list[tuple] | None:
    """[(key, steps, values, walls)] of calls that log the same keys; None when a value is
    not a number (the slow way then drops it with a warning)."""
    import numpy as np

    count = len(dicts) * len(keys)
    try:
        values = map(float, chain.from_iterable(map(dict.values, dicts)))  # None raises
        flat = np.fromiter(values, np.float64, count)
    except (TypeError, ValueError, OverflowError):
        return None
    numbers = flat.reshape(len(dicts), len(keys))
    return [(key, steps, numbers[:, i], walls) for i, key in enumerate(keys)]


def _convert_one_by_one(keys: tuple, calls: list[tuple]) -> list[tuple]:
    """The slow way, for calls holding a value that is not a number: that value is dropped."""
    import numpy as np

    out = []
    for key in keys:
        steps, values, walls = [], [], []
        for step, wall, scalars in calls:
            value = scalars[key]
            try:
                value = float(value)
            except (TypeError, ValueError):
                log.warning(NOT_A_NUMBER, key, value, step)
                continue
            steps.append(step)
            values.append(value)
            walls.append(wall)
        if steps:
            out.append((key, np.array(steps, np.int64), np.array(values), np.array(walls)))
    return out


def _non_finite(key: str, steps: Any, values: Any) -> list[tuple]:
    """The points that were not finite (they are stored as NaN: JSON has neither)."""
    import numpy as np

    finite = np.isfinite(values)
    if finite.all():
        return []
    where = np.flatnonzero(~finite)
    bad = [(int(steps[i]), key, float(values[i])) for i in where]
    values[where] = np.nan
    return bad


def _rounded_to_float32(values: Any) -> Any:
    """The nearest float32 of each value; a value beyond float32's range stays as it was."""
    import numpy as np

    with np.errstate(over="ignore"):
        narrow = values.astype(np.float32).astype(np.float64)
    return np.where(np.isinf(narrow), values, narrow)


def _float32_plain(value: float) -> float:
    try:
        return struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        return value


def _buckets(key: str, steps: Any, values: Any, walls: Any) -> dict:
    """{(key, bucket): [lo_step, lo, hi_step, hi, wall]}: each bucket's first lowest and
    first highest finite value and its last wall time, in call order."""
    import numpy as np

    finite = ~np.isnan(values)
    if not finite.any():
        return {}
    steps, values, walls = steps[finite], values[finite], walls[finite]
    bucket = steps >> BUCKET_SHIFT
    order = np.argsort(bucket, kind="stable")  # call order kept within a bucket
    bucket, steps, values, walls = bucket[order], steps[order], values[order], walls[order]
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(bucket)]
    sizes = ends - starts
    low = _first_where(values == np.repeat(np.minimum.reduceat(values, starts), sizes), starts)
    high = _first_where(values == np.repeat(np.maximum.reduceat(values, starts), sizes), starts)
    return {
        (key, b): [s_lo, v_lo, s_hi, v_hi, w]
        for b, s_lo, v_lo, s_hi, v_hi, w in zip(
            bucket[starts].tolist(),
            steps[low].tolist(),
            values[low].tolist(),
            steps[high].tolist(),
            values[high].tolist(),
            walls[ends - 1].tolist(),
            strict=True,
        )
    }


def _first_where(hits: Any, starts: Any) -> Any:
    """Per group (starting at ``starts``), the index of its first hit (each group has one)."""
    import numpy as np

    indices = np.flatnonzero(hits)
    return indices[np.searchsorted(indices, starts)]


def _columns_plain(points: list[tuple], float32: bool = False) -> Columns:
    """Without numpy (the executable): the same columns as lists, a point at a time."""
    result, names = Columns(), {}
    for step, wall, scalars in points:
        for name, value in scalars.items():
            key = names.get(name) or names.setdefault(name, stored_key(name))
            try:
                value = float(value)
            except (TypeError, ValueError):
                log.warning(NOT_A_NUMBER, name, value, step)
                continue
            if not math.isfinite(value):
                result.bad.append((step, key, value))
                value = math.nan
            elif float32:
                value = _float32_plain(value)
            steps, values, walls = result.keys.setdefault(key, ([], [], []))
            steps.append(step)
            values.append(value)
            walls.append(wall)
    for key, (steps, values, walls) in result.keys.items():
        result.buckets.update(_buckets_plain(key, steps, values, walls))
    return result


def _buckets_plain(key: str, steps: list, values: list, walls: list) -> dict:
    """``_buckets`` a point at a time."""
    buckets: dict[tuple[str, int], list] = {}
    for step, value, wall in zip(steps, values, walls, strict=True):
        if value != value:
            continue
        agg = buckets.get((key, step >> BUCKET_SHIFT))
        if agg is None:
            buckets[key, step >> BUCKET_SHIFT] = [step, value, step, value, wall]
            continue
        if value < agg[1]:
            agg[0], agg[1] = step, value
        if value > agg[3]:
            agg[2], agg[3] = step, value
        agg[4] = wall
    return buckets
