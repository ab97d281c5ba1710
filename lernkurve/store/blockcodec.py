"""A block of points as compact bytes: ids and steps, values, wall times.

A block is one run's points of one key from one writer batch (or several merged). Its
columns are stored as BLOBs whose first byte says how the rest reads:

- ids and steps (whole numbers): ``ARITH`` (first and a constant difference: consecutive
  steps cost nothing) or offsets from the block's lowest value in the narrowest unsigned
  type that holds them (1, 2, 4 or 8 bytes).
- values: float32 where every value of the block is one (nothing lost: a run asked for
  float32, or logs float32 tensors), else float64; NaN where the value was not a finite
  number (read back as None, as everywhere in the store).
- wall times: whole microseconds after the block's first wall time (kept as a REAL beside
  the BLOB), in the narrowest signed type.

Every encoding reads back at any index without decoding the rest (``int_at``, ``value_at``,
``wall_at``): the SQLite view of single points calls them once per point.

numpy packs and unpacks whole blocks where it is installed; without it (the executable leaves
it out) the same bytes are made and read by the standard library's ``array``, and unpacking
gives lists instead of arrays.
"""

from __future__ import annotations

import struct
import sys
from array import array
from functools import cache
from typing import Any

ARITH = 0
_UNSIGNED = {1: "u1", 2: "u2", 4: "u4", 8: "u8"}
_SIGNED = {1: "i1", 2: "i2", 4: "i4", 8: "i8"}
_INT_TAGS = {1: 1, 2: 2, 4: 3, 8: 4}  # offset width -> tag byte
_WIDTH_OF_TAG = {tag: width for width, tag in _INT_TAGS.items()}
_STRUCT_UNSIGNED = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}
_STRUCT_SIGNED = {1: "<b", 2: "<h", 4: "<i", 8: "<q"}
FLOAT64, FLOAT32 = 0, 1
_FLOAT_FORMAT = {FLOAT64: ("<f8", "<d", 8), FLOAT32: ("<f4", "<f", 4)}
MICROSECONDS = 1_000_000.0


_ARRAY_UNSIGNED = {1: "B", 2: "H", 4: "I", 8: "Q"}
_ARRAY_SIGNED = {1: "b", 2: "h", 4: "i", 8: "q"}
_ARRAY_FLOAT = {FLOAT64: "d", FLOAT32: "f"}


@cache
def numpy_or_none() -> Any:
    """numpy where it is installed, else None (the executable has none)."""
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def _np():
    return numpy_or_none()


def as_list(column: Any) -> list:
    """A column as a list: numpy's arrays, ranges, or the lists made without numpy."""
    if isinstance(column, list):
        return column
    return list(column) if isinstance(column, range) else column.tolist()


def _packed(code: str, values: Any) -> bytes:
    """Numbers as little-endian bytes of an ``array`` type code."""
    packed = array(code, values)
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tobytes()


def _unpacked(code: str, blob: bytes, offset: int, count: int) -> list:
    """``count`` numbers of an ``array`` type code read from ``blob`` at ``offset``."""
    numbers = array(code)
    numbers.frombytes(blob[offset : offset + count * numbers.itemsize])
    if sys.byteorder != "little":
        numbers.byteswap()
    return numbers.tolist()


def _width(span: int, signed: bool = False) -> int:
    """The fewest bytes (1, 2, 4, 8) whose integers hold 0..span (or -span..span)."""
    bits = span.bit_length() + (1 if signed else 0)
    return next(width for width in (1, 2, 4, 8) if bits <= width * 8)


def pack_ints(values: Any) -> tuple[int, int, bytes]:
    """(lowest, highest, encoded) of int64 ``values`` (at least one)."""
    np = _np()
    if np is None:
        return _pack_ints_plain([int(v) for v in values])
    values = np.asarray(values, dtype=np.int64)
    low, high = int(values.min()), int(values.max())
    first = int(values[0])
    if len(values) == 1:
        return low, high, struct.pack("<Bqq", ARITH, first, 0)
    if high - low < 2**63:  # else differences overflow int64: no stride to trust
        differences = np.diff(values)
        step = int(differences[0])
        if (differences == step).all():
            return low, high, struct.pack("<Bqq", ARITH, first, step)
    width = _width(high - low)
    offsets = (values - low).astype(_UNSIGNED[width])  # high - low < 2**63: no wrap
    return low, high, bytes([_INT_TAGS[width]]) + offsets.astype("<" + _UNSIGNED[width]).tobytes()


def _pack_ints_plain(values: list[int]) -> tuple[int, int, bytes]:
    low, high, first = min(values), max(values), values[0]
    if low < -(2**63) or high >= 2**63:
        raise OverflowError(f"{low if low < 0 else high} does not fit in 64 bits")
    step = values[1] - first if len(values) > 1 else 0
    if high - low < 2**63 and values == [first + step * i for i in range(len(values))]:
        return low, high, struct.pack("<Bqq", ARITH, first, step)
    width = _width(high - low)
    offsets = _packed(_ARRAY_UNSIGNED[width], [v - low for v in values])
    return low, high, bytes([_INT_TAGS[width]]) + offsets


def unpack_ints(blob: bytes, low: int, count: int) -> Any:
    """The int64 array ``pack_ints`` encoded (a list without numpy)."""
    np = _np()
    tag = blob[0]
    if tag == ARITH:
        first, step = struct.unpack_from("<qq", blob, 1)
        if np is None:
            return [first + step * i for i in range(count)]
        return first + step * np.arange(count, dtype=np.int64)
    width = _WIDTH_OF_TAG[tag]
    if np is None:
        return [low + v for v in _unpacked(_ARRAY_UNSIGNED[width], blob, 1, count)]
    offsets = np.frombuffer(blob, dtype="<" + _UNSIGNED[width], offset=1, count=count)
    return offsets.astype(np.int64) + low


def int_at(blob: bytes, low: int, index: int) -> int:
    """One value of ``pack_ints``'s encoding, read in place."""
    tag = blob[0]
    if tag == ARITH:
        first, step = struct.unpack_from("<qq", blob, 1)
        return first + step * index
    width = _WIDTH_OF_TAG[tag]
    return low + struct.unpack_from(_STRUCT_UNSIGNED[width], blob, 1 + index * width)[0]


def pack_values(values: Any, kind: int | None = None) -> bytes:
    """Values as float64, or float32 where every one of them is a float32 (a loss logged from
    a float32 tensor is: half the bytes, nothing lost); a NaN stands for a value that was not
    finite. ``kind`` forces one."""
    np = _np()
    if np is None:
        return _pack_values_plain(values, kind)
    exact = np.asarray(values, dtype=np.float64)
    if kind is None:
        with np.errstate(over="ignore"):
            narrow = exact.astype("<f4")
        kind = FLOAT32 if np.array_equal(narrow, exact, equal_nan=True) else FLOAT64
    return bytes([kind]) + exact.astype(_FLOAT_FORMAT[kind][0]).tobytes()


def _pack_values_plain(values: Any, kind: int | None) -> bytes:
    exact = [float(value) for value in values]
    if kind is None:
        kind = FLOAT32 if _all_float32(exact) else FLOAT64
    return bytes([kind]) + _packed(_ARRAY_FLOAT[kind], exact)


def _all_float32(values: list[float]) -> bool:
    try:
        narrow = array("f", values)
    except OverflowError:  # beyond float32's range
        return False
    return all(a == b or (a != a and b != b) for a, b in zip(narrow, values, strict=True))


def unpack_values(blob: bytes, count: int) -> Any:
    """The float64 array of ``pack_values`` (NaN where nothing finite was stored)."""
    np = _np()
    if np is None:
        return _unpacked(_ARRAY_FLOAT[blob[0]], blob, 1, count)
    dtype = _FLOAT_FORMAT[blob[0]][0]
    return np.frombuffer(blob, dtype=dtype, offset=1, count=count).astype(np.float64)


def value_at(blob: bytes, index: int) -> float | None:
    _, code, width = _FLOAT_FORMAT[blob[0]]
    value = struct.unpack_from(code, blob, 1 + index * width)[0]
    return None if value != value else value  # NaN: not a finite number when logged


def pack_walls(walls: Any) -> tuple[float, bytes]:
    """(first wall time, microseconds after it) of float ``walls`` (seconds)."""
    np = _np()
    if np is None:
        return _pack_walls_plain([float(w) for w in walls])
    walls = np.asarray(walls, dtype=np.float64)
    first = float(walls[0])
    offsets = np.rint((walls - first) * MICROSECONDS).astype(np.int64)
    span = int(np.abs(offsets).max()) if len(offsets) else 0
    width = _width(span, signed=True)
    return first, bytes([_INT_TAGS[width]]) + offsets.astype("<" + _SIGNED[width]).tobytes()


def _pack_walls_plain(walls: list[float]) -> tuple[float, bytes]:
    first = walls[0]
    offsets = [round((w - first) * MICROSECONDS) for w in walls]
    width = _width(max(abs(o) for o in offsets), signed=True)
    return first, bytes([_INT_TAGS[width]]) + _packed(_ARRAY_SIGNED[width], offsets)


def unpack_walls(blob: bytes, first: float, count: int) -> Any:
    np = _np()
    width = _WIDTH_OF_TAG[blob[0]]
    if np is None:
        offsets = _unpacked(_ARRAY_SIGNED[width], blob, 1, count)
        return [first + o / MICROSECONDS for o in offsets]
    offsets = np.frombuffer(blob, dtype="<" + _SIGNED[width], offset=1, count=count)
    return first + offsets.astype(np.float64) / MICROSECONDS


def wall_at(blob: bytes, first: float, index: int) -> float:
    width = _WIDTH_OF_TAG[blob[0]]
    offset = struct.unpack_from(_STRUCT_SIGNED[width], blob, 1 + index * width)[0]
    return first + offset / MICROSECONDS
