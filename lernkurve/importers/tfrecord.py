"""TFRecord files (TensorBoard's event files) read one record at a time, every record checked.

A record is a little-endian uint64 length, the masked CRC-32C of those 8 bytes, the data, and
the masked CRC-32C of the data. A length that claims more than what is left of the file is
corruption (or a cut-off file), never an allocation. Records are read in chunks of 1 MiB and
their checksums computed for the whole chunk at once with numpy (one column of bytes at a
time across all records), so a file of two million scalars costs no Python loop per byte.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

HEADER = 12  # uint64 length + uint32 masked CRC of it
FOOTER = 4  # uint32 masked CRC of the data
CHUNK = 1 << 20  # bytes read at a time
VECTOR_MAX = 4096  # records up to this long are checked together, longer ones one by one
FEW = 16  # fewer records than this are checked one by one (numpy costs more for so few)
PARSE_MAX = 16 << 20  # longer records are checked in pieces and skipped: never a scalar
_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_MASK_DELTA = 0xA282EAD8


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _table()
_NP_TABLE = np.array(_TABLE, dtype=np.uint32)


def _zeros_after_init(count: int) -> np.ndarray:
    """[n]: what the initial register 0xFFFFFFFF adds to a CRC after n bytes, final xor
    included: crc(data) = crc_from_zero(data) ^ this[len(data)] (CRC is linear)."""
    out = np.zeros(count + 1, dtype=np.uint32)
    crc = 0xFFFFFFFF
    for n in range(1, count + 1):
        crc = _TABLE[crc & 0xFF] ^ (crc >> 8)
        out[n] = crc ^ 0xFFFFFFFF
    return out


_INIT_AFTER = _zeros_after_init(VECTOR_MAX)


class CorruptRecord(Exception):
    """A record that is not what the format says, at a byte offset of its file."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} (record at byte {offset:,})")
        self.offset, self.reason = offset, reason


def _shift_tables(width: int) -> list[list[int]]:
    """Four byte tables that move a register past ``width`` zero bytes (a linear map)."""
    columns = []
    for bit in range(32):
        crc = 1 << bit
        for _ in range(width):
            crc = _TABLE[crc & 0xFF] ^ (crc >> 8)
        columns.append(crc)
    tables = []
    for k in range(4):
        table = [0] * 256
        for value in range(1, 256):
            low = (value & -value).bit_length() - 1
            table[value] = table[value & (value - 1)] ^ columns[8 * k + low]
        tables.append(table)
    return tables


ROW = 256  # a long record is checked as rows of this many bytes, all rows at once
_S0, _S1, _S2, _S3 = _shift_tables(ROW)


def crc32c(data: bytes | memoryview, crc: int = 0) -> int:
    """CRC-32C of ``data``, continuing from ``crc`` (the finished CRC of what came before).

    Long data is cut into rows of ROW bytes whose CRCs from a zero register are computed
    together; the register then passes each row in turn: register' = shift(register) ^ row.
    """
    data = bytes(data)
    reg = crc ^ 0xFFFFFFFF
    table = _TABLE
    full = len(data) // ROW * ROW if len(data) >= 4 * ROW else 0
    if full:
        rows = np.frombuffer(data, dtype=np.uint8, count=full).reshape(-1, ROW)
        row_crc = np.zeros(len(rows), dtype=np.uint32)
        for column in np.ascontiguousarray(rows.T, dtype=np.uint32):
            row_crc = _NP_TABLE[(row_crc ^ column) & np.uint32(0xFF)] ^ (row_crc >> np.uint32(8))
        s0, s1, s2, s3 = _S0, _S1, _S2, _S3
        for value in row_crc.tolist():
            reg = s0[reg & 0xFF] ^ s1[(reg >> 8) & 0xFF] ^ s2[(reg >> 16) & 0xFF] ^ s3[reg >> 24]
            reg ^= value
    for byte in data[full:]:
        reg = table[(reg ^ byte) & 0xFF] ^ (reg >> 8)
    return reg ^ 0xFFFFFFFF


def masked_crc(crc: int) -> int:
    """TFRecord's masked CRC (a CRC of data that holds CRCs would be weak otherwise)."""
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _masked_np(crc: np.ndarray) -> np.ndarray:
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(_MASK_DELTA)


def _crcs(view: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """CRC-32C of view[start:start+length] for each (start, length), all lengths <= VECTOR_MAX.

    Records of about the same length share one matrix, padded with zeros on the left (zeros
    leave a zero register as it is); the initial register's share is added after."""
    out = np.empty(len(starts), dtype=np.uint32)
    widths = (lengths + 15) // 16 * 16
    for width in np.unique(widths):
        pick = np.flatnonzero(widths == width)
        pad = (width - lengths[pick])[:, None]
        index = starts[pick][:, None] + np.arange(width) - pad
        matrix = np.where(np.arange(width) >= pad, view[np.maximum(index, 0)], 0)
        crc = np.zeros(len(pick), dtype=np.uint32)
        for column in np.ascontiguousarray(matrix.T, dtype=np.uint32):
            crc = _NP_TABLE[(crc ^ column) & np.uint32(0xFF)] ^ (crc >> np.uint32(8))
        out[pick] = crc ^ _INIT_AFTER[lengths[pick]]
    return out


def _first_bad(buf: bytes, spans: list[tuple[int, int]]) -> tuple[int, str] | None:
    """The first record of ``spans`` ((start, length) in ``buf``) whose length or data
    checksum is wrong, as (its index, what is wrong); None when all are good."""
    if not spans:
        return None
    if len(spans) < FEW:
        return _first_bad_one_by_one(buf, spans)
    view = np.frombuffer(buf, dtype=np.uint8)
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    lengths = np.array([n for _, n in spans], dtype=np.int64)
    words = view[(starts[:, None] + np.arange(HEADER)).ravel()].reshape(-1, HEADER)
    stored = words[:, 8:12].copy().view("<u4").ravel()
    bad_header = _masked_np(_crcs(view, starts, np.full(len(spans), 8))) != stored
    small = lengths <= VECTOR_MAX
    data = starts + HEADER
    ends = data + lengths
    footer = view[(ends[:, None] + np.arange(FOOTER)).ravel()].reshape(-1, FOOTER)
    stored_data = footer.copy().view("<u4").ravel()
    bad_data = np.zeros(len(spans), dtype=bool)
    if small.any():
        computed = _masked_np(_crcs(view, data[small], lengths[small]))
        bad_data[small] = computed != stored_data[small]
    for i in np.flatnonzero(~small):  # long records: one at a time
        start, length = int(data[i]), int(lengths[i])
        bad_data[i] = masked_crc(crc32c(buf[start : start + length])) != stored_data[i]
    bad = np.flatnonzero(bad_header | bad_data)
    if not len(bad):
        return None
    first = int(bad[0])
    return first, "length checksum mismatch" if bad_header[first] else "data checksum mismatch"


def _first_bad_one_by_one(buf: bytes, spans: list[tuple[int, int]]) -> tuple[int, str] | None:
    for i, (start, length) in enumerate(spans):
        if masked_crc(crc32c(buf[start : start + 8])) != _u32(buf, start + 8):
            return i, "length checksum mismatch"
        end = start + HEADER + length
        if masked_crc(crc32c(buf[start + HEADER : end])) != _u32(buf, end):
            return i, "data checksum mismatch"
    return None


def read_records(file: BinaryIO, start: int, end: int) -> Iterator[tuple[int, int, bytes | None]]:
    """Yield (offset, next offset, data) for each record of ``file`` from byte ``start`` to
    ``end``; data is None for a good record too long to be a scalar (checked in pieces, not
    kept). Raises CorruptRecord at the first bad or cut-off record, after the good ones."""
    file.seek(start)
    buf, base = b"", start  # base: the file offset of buf[0]
    while True:
        room = end - base - len(buf)
        if room > 0 and len(buf) < CHUNK:
            more = file.read(min(CHUNK, room))
            if not more:
                end = base + len(buf)  # the file got shorter while it was read
            buf += more
        if not buf:
            return
        spans, pos, problem = [], 0, None
        while pos < len(buf):
            if len(buf) - pos < HEADER:
                if base + len(buf) >= end:
                    problem = "cut"
                break
            (length,) = struct.unpack_from("<Q", buf, pos)
            total = HEADER + length + FOOTER
            if base + pos + total > end:
                problem = "claims"
                break
            if total > len(buf) - pos:
                problem = "big" if total > CHUNK else None
                break
            spans.append((pos, length))
            pos += total
        yield from _checked(buf, base, spans)
        if problem is None:
            buf, base = buf[pos:], base + pos
            continue
        offset = base + pos
        if problem == "cut":
            raise CorruptRecord(
                offset, f"truncated: the file ends {len(buf) - pos} byte(s) into a record"
            )
        if masked_crc(crc32c(buf[pos : pos + 8])) != _u32(buf, pos + 8):
            raise CorruptRecord(offset, "length checksum mismatch")
        if problem == "claims":
            left = max(end - offset - HEADER - FOOTER, 0)
            raise CorruptRecord(
                offset,
                f"truncated or corrupt: the record claims {length:,} bytes, "
                f"the file has {left:,} left",
            )
        yield _big_record(file, offset, length)
        buf, base = b"", offset + total
        file.seek(base)


def _u32(buf: bytes, at: int) -> int:
    return struct.unpack_from("<I", buf, at)[0]


def _checked(buf: bytes, base: int, spans: list[tuple[int, int]]):
    bad = _first_bad(buf, spans)
    good = spans if bad is None else spans[: bad[0]]
    for start, length in good:
        yield (
            base + start,
            base + start + HEADER + length + FOOTER,
            buf[start + HEADER : start + HEADER + length],
        )
    if bad is not None:
        raise CorruptRecord(base + spans[bad[0]][0], bad[1])


def _big_record(file: BinaryIO, offset: int, length: int) -> tuple[int, int, bytes | None]:
    """A record longer than a chunk, its length checked and its bytes known to be in the file:
    its data checked as it is read, kept only when it could be parsed (up to PARSE_MAX)."""
    file.seek(offset + HEADER)
    keep = length <= PARSE_MAX
    parts, crc, left = [], 0, length
    while left:
        piece = file.read(min(CHUNK, left))
        if not piece:
            raise CorruptRecord(offset, "truncated: the file got shorter while it was read")
        crc, left = crc32c(piece, crc), left - len(piece)
        if keep:
            parts.append(piece)
    footer = file.read(FOOTER)
    if len(footer) < FOOTER:
        raise CorruptRecord(offset, "truncated: the file got shorter while it was read")
    if masked_crc(crc) != _u32(footer, 0):
        raise CorruptRecord(offset, "data checksum mismatch")
    return offset, offset + HEADER + length + FOOTER, b"".join(parts) if keep else None
