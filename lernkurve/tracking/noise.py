"""How much a metric moves from one logged value to the next, apart from its trend."""

from __future__ import annotations

import math
import statistics

MAD_TO_SIGMA = 1.4826  # a normal distribution's standard deviation per median deviation
LEAST_VALUES = 5  # fewer values than this give too few bends to read a spread from


def batch_noise(values: list[float], least: int = LEAST_VALUES) -> float | None:
    """The standard deviation of the values' noise, read from their second differences (blind
    to a steady trend; a bend counts only where it is) by their median; None for fewer than
    ``least`` values."""
    if len(values) < max(least, 3):
        return None
    bends = [a - 2 * b + c for a, b, c in zip(values, values[1:], values[2:], strict=False)]
    return MAD_TO_SIGMA * statistics.median(abs(d) for d in bends) / math.sqrt(6)
