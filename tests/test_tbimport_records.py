"""The importer's own TFRecord reader against TensorBoard's writer: every record back with its
offset, every flipped bit and cut found, no allocation for a length that lies."""

from __future__ import annotations

import io
import random
import struct
import tracemalloc

import pytest

pytest.importorskip("tensorboard")

from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import (  # noqa: E402
    crc32c as reference_crc,
)
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c  # noqa: E402
from tensorboard.summary.writer.record_writer import RecordWriter  # noqa: E402

from lernkurve.importers.tfrecord import CorruptRecord, crc32c, read_records  # noqa: E402


def records_file(lengths: list[int], seed: int = 7) -> tuple[bytes, list[bytes]]:
    rng = random.Random(seed)
    datas = [rng.randbytes(n) for n in lengths]
    buffer = io.BytesIO()
    writer = RecordWriter(buffer)
    for data in datas:
        writer.write(data)
    return buffer.getvalue(), datas


def read_all(data: bytes, start: int = 0) -> list[tuple[int, int, bytes | None]]:
    return list(read_records(io.BytesIO(data), start, len(data)))


def test_crc32c_matches_tensorboards_for_every_length_and_continues():
    rng = random.Random(3)
    for n in [0, 1, 7, 8, 255, 1023, 1024, 1025, 4096, 70_001]:
        data = rng.randbytes(n)
        assert crc32c(data) == reference_crc(data), n
        assert crc32c(data[n // 3 :], crc32c(data[: n // 3])) == reference_crc(data), n


def test_every_record_comes_back_with_its_offset_whatever_its_length():
    lengths = [0, 1, 30, 31, 34, 47, 100, 4095, 4096, 4097, 70_000, 3 << 20] + [34] * 40_000
    random.Random(5).shuffle(lengths)
    data, datas = records_file(lengths)
    got = read_all(data)
    assert [d for _, _, d in got] == datas
    offset = 0
    for (at, after, _), record in zip(got, datas, strict=True):
        assert at == offset and after == offset + 16 + len(record)
        offset = after
    assert [d for _, _, d in read_all(data, got[1000][0])] == datas[1000:]


def test_every_flipped_bit_and_every_cut_is_found_at_its_record():
    data, datas = records_file([34] * 50 + [5000, 0, 77])
    starts = [at for at, _, _ in read_all(data)]
    rng = random.Random(11)
    for position in rng.sample(range(len(data)), 300):
        broken = bytearray(data)
        broken[position] ^= 1 << rng.randrange(8)
        with pytest.raises(CorruptRecord) as caught:
            read_all(bytes(broken))
        assert caught.value.offset == max(s for s in starts if s <= position)
    for cut in [1, 11, 12, 15, 16, len(data) - 1]:
        with pytest.raises(CorruptRecord, match="truncated") as caught:
            read_all(data[:cut])
        assert caught.value.offset == max(s for s in starts if s < cut)


def test_a_length_that_lies_is_corruption_and_allocates_nothing():
    header = struct.pack("<Q", 2**46)
    liar = header + struct.pack("<I", masked_crc32c(header)) + b"x" * 100
    tracemalloc.start()
    try:
        with pytest.raises(CorruptRecord, match="claims 70,368,744,177,664 bytes"):
            read_all(liar)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
