"""A block's columns read back as written: any steps (unsorted, repeated, past 2^40), values
exactly (NaN for what was not finite), wall times to the microsecond; every index alike in
bulk and in place."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lernkurve.store import blockcodec as codec

SETTINGS = settings(max_examples=300, deadline=None, database=None)
steps = st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=300)  # any int64
values = st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=300)
float32s = st.lists(st.floats(width=32), min_size=1, max_size=300)  # as float32 tensors log


@SETTINGS
@given(steps)
@example([2**62, -(2**62), 2**62])  # differences that overflow int64 are no stride
@example([-(2**63), 2**63 - 1])
def test_whole_numbers_round_trip_in_bulk_and_in_place(numbers):
    low, high, blob = codec.pack_ints(numbers)
    assert (low, high) == (min(numbers), max(numbers))
    assert codec.unpack_ints(blob, low, len(numbers)).tolist() == numbers
    assert [codec.int_at(blob, low, i) for i in range(len(numbers))] == numbers


def test_consecutive_steps_cost_nothing_per_point_and_near_ones_a_byte():
    _, _, consecutive = codec.pack_ints(range(1_000, 5_096))
    assert len(consecutive) == 17
    _, _, near = codec.pack_ints([0, 2, 3, 7, 8, 200, 201])
    assert len(near) == 1 + 7


@SETTINGS
@given(st.one_of(values, float32s))
def test_values_round_trip_exactly_and_non_finite_reads_as_none(floats):
    expected = [v if math.isfinite(v) else None for v in floats]
    stored = [v if math.isfinite(v) else math.nan for v in floats]
    blob = codec.pack_values(stored)
    bulk = codec.unpack_values(blob, len(floats))
    assert [None if math.isnan(v) else v for v in bulk.tolist()] == expected
    assert [codec.value_at(blob, i) for i in range(len(floats))] == expected


def test_values_that_float32_holds_take_four_bytes_and_read_back_exactly():
    floats = [float(np.float32(v)) for v in (0.1, 2.5, -3e-7, 1e30, -1e-40)] + [math.nan]
    blob = codec.pack_values(floats)
    assert len(blob) == 1 + 4 * len(floats)
    assert codec.unpack_values(blob, len(floats)).tolist()[:-1] == floats[:-1]
    assert len(codec.pack_values([*floats, 0.1])) == 1 + 8 * (len(floats) + 1)  # 0.1 isn't one
    assert len(codec.pack_values([3e38 * 10])) == 1 + 8  # beyond float32's range


def test_float32_values_are_what_float32_holds():
    blob = codec.pack_values([0.1, 1e-30], codec.FLOAT32)
    assert len(blob) == 1 + 8
    assert codec.unpack_values(blob, 2).tolist() == np.array([0.1, 1e-30], "f4").tolist()


@SETTINGS
@given(
    st.floats(1e9, 2e9),
    st.lists(st.floats(-5_000.0, 5_000.0), min_size=0, max_size=200),
)
def test_wall_times_round_trip_to_the_microsecond(start, later):
    walls = [start, *(start + d for d in later)]
    first, blob = codec.pack_walls(walls)
    assert first == start
    bulk = codec.unpack_walls(blob, first, len(walls))
    assert np.allclose(bulk, walls, rtol=0, atol=1e-6)
    assert [codec.wall_at(blob, first, i) for i in range(len(walls))] == bulk.tolist()


def test_a_batch_of_walls_costs_two_bytes_a_point():
    first, blob = codec.pack_walls([100.0 + i * 1e-5 for i in range(1000)])
    assert len(blob) == 1 + 2 * 1000


@SETTINGS
@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=200),
    st.one_of(values, float32s),
    st.floats(1e9, 2e9),
)
def test_without_numpy_the_same_bytes_are_written_and_read(numbers, floats, start):
    """The executable has no numpy: the standard library packs and reads the same bytes."""
    walls = [start + 0.001 * i for i in range(len(floats))]
    stored = [v if math.isfinite(v) else math.nan for v in floats]
    packed = (codec.pack_ints(numbers), codec.pack_values(stored), codec.pack_walls(walls))
    with_numpy = codec.numpy_or_none
    codec.numpy_or_none = lambda: None  # as the executable has it
    try:
        assert codec.pack_ints(numbers) == packed[0]
        assert codec.pack_values(stored) == packed[1]
        assert codec.pack_walls(walls) == packed[2]
        low, _, blob = packed[0]
        assert codec.unpack_ints(blob, low, len(numbers)) == numbers
        read = codec.unpack_values(packed[1], len(floats))
        assert [None if v != v else v for v in read] == [v if v == v else None for v in stored]
        first, blob = packed[2]
        plain_walls = codec.unpack_walls(blob, first, len(walls))
    finally:
        codec.numpy_or_none = with_numpy
    assert plain_walls == codec.unpack_walls(blob, first, len(walls)).tolist()
