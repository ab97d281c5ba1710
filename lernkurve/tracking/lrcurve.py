"""Reading an lr test's curve: when to stop, and what it says about lr.

The suggestion is fast.ai's "valley": halfway into the longest stretch where the smoothed loss
keeps falling before its minimum. It is given only for a clear minimum inside the range tried;
a flat curve (a converged run), one that rises from the start or one too short to judge gets
no number, and says which of these it is (lernkurve.tracking.trials puts it into the event).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from lernkurve.tracking.noise import batch_noise

DIVERGE_RATIO = 4.0  # an lr test stops once the smoothed loss passes its best this many times
MIN_STEPS_BEFORE_STOP = 5  # and the best counts only from here: the first values are single
# batches, and one lucky batch of a converged run must not end the test
SMOOTHING = 0.9  # of the lr test's losses (bias-corrected moving average, as fast.ai's)

MIN_VALUES = 5  # fewer values than this say nothing about a curve
VALLEY_POINTS = 500  # the valley search is quadratic: longer curves are thinned to this
FLAT = 0.1  # a fall smaller than this share of the starting loss is no valley ...
NOISE_TIMES = 5.0  # ... nor one smaller than this many times the noise of the fall (what the
# smoothing leaves of the batches' noise, and the starting level's own: both move the fall)
NOISE_VALUES = 20  # the noise is read from at least this many values
SMOOTHED_NOISE = math.sqrt((1 - SMOOTHING) / (1 + SMOOTHING))  # what smoothing leaves of it
LEVEL_VALUES = 10  # the level a curve began at: the median of its first this many values
MEDIAN_NOISE = math.sqrt(math.pi / 2)  # a median of n values is off by this × noise / √n


@dataclass(frozen=True)
class Suggestion:
    """What a curve says: ``verdict`` is "valley" (``lr`` strictly inside the range tried),
    "flat" (the loss barely moves up to ``flat_to``), "rising" (it rises from the lowest lr
    on), "too_short" (too few values to judge) or "no_values" (the metric was never logged)."""

    verdict: str
    lr: float | None = None
    flat_to: float | None = None
    values: int = 0

    def payload(self) -> dict:
        return {
            "suggested_lr": self.lr,
            "verdict": self.verdict,
            "flat_to": self.flat_to,
            "values": self.values,
        }


def smooth(values: list[float], beta: float = SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average (as fast.ai's lr finder smooths)."""
    out, average = [], 0.0
    for i, value in enumerate(values, start=1):
        average = beta * average + (1 - beta) * value
        out.append(average / (1 - beta**i))
    return out


def stop_reason(losses: list[float | None], planned_steps: int) -> str | None:
    """Why an lr test should stop now: "not_finite" (the last loss is NaN or infinite),
    "diverged" (the smoothed loss passed DIVERGE_RATIO × its best, never in the first tenth
    of the test), or None to go on."""
    seen = [v for v in losses if v is not None]
    if not seen:
        return None
    if not math.isfinite(seen[-1]):
        return "not_finite"
    if len(seen) < max(MIN_STEPS_BEFORE_STOP, planned_steps // 10):
        return None
    smoothed = smooth(seen)
    best = min(smoothed[MIN_STEPS_BEFORE_STOP - 1 :])
    return "diverged" if best > 0 and smoothed[-1] > DIVERGE_RATIO * best else None


def suggest_lr(lrs: list[float], losses: list[float | None]) -> Suggestion:
    """The lr to suggest from a test's lrs and losses (None: a step logged none), or why none."""
    usable = _usable(lrs, losses)
    if not usable:
        return Suggestion("no_values")
    if len(usable) < MIN_VALUES:
        return Suggestion("too_short", values=len(usable))
    raw = [loss for _, loss in usable]
    curve = list(zip([lr for lr, _ in usable], smooth(raw), strict=True))
    start = raw[:LEVEL_VALUES]
    level = statistics.median(start)  # where it began: one batch may be off
    level_noise = MEDIAN_NOISE / math.sqrt(len(start))
    spread = math.hypot(level_noise, SMOOTHED_NOISE)  # of a smoothed value less the level
    band = max(FLAT * abs(level), NOISE_TIMES * _noise(raw) * spread)
    lowest = min(range(len(curve)), key=lambda i: curve[i][1])
    if lowest == 0 or level - curve[lowest][1] < band:
        return _no_minimum(curve, level, band, len(usable))
    return Suggestion("valley", lr=_valley(curve, lowest, band), values=len(usable))


def _valley(curve: list[tuple[float, float]], lowest: int, band: float) -> float:
    """Halfway into the longest fall before the minimum (a jagged fall: the whole way down),
    never a bound of the range tried."""
    falling = curve[: lowest + 1]
    falling = falling[:: max(1, math.ceil(len(falling) / VALLEY_POINTS))]
    start, end = _longest_fall(falling)
    if falling[start][1] - falling[end][1] < band:
        start, end = 0, len(falling) - 1
    third = (end - start) / 3
    index = curve.index(falling[start + int(third) + int(third / 2)])
    return curve[min(max(index, 1), len(curve) - 2)][0]


def _usable(lrs: list[float], losses: list[float | None]) -> list[tuple[float, float]]:
    """(lr, loss) of the steps that logged one, up to the first non-finite loss."""
    usable = []
    for lr, loss in zip(lrs, losses, strict=False):
        if loss is None:
            continue
        if not math.isfinite(loss):
            break  # past divergence: nothing after it counts
        usable.append((lr, loss))
    return usable


def _noise(raw: list[float]) -> float:
    """The batch-to-batch spread of the losses; 0 for a curve too short to tell a bend from
    noise."""
    return batch_noise(raw, NOISE_VALUES) or 0.0


def _no_minimum(
    curve: list[tuple[float, float]], level: float, band: float, values: int
) -> Suggestion:
    """No clear fall: flat up to the lr where the loss rises out of the band it began in, or
    rising when it does so within the first tenth (it never falls out of it: that would be a
    minimum)."""
    inside = 0
    while inside + 1 < len(curve) and curve[inside + 1][1] - level <= band:
        inside += 1
    if inside < max(MIN_VALUES, len(curve) // 10) and inside + 1 < len(curve):
        return Suggestion("rising", values=values)
    return Suggestion("flat", flat_to=curve[inside][0], values=values)


def _longest_fall(curve: list[tuple[float, float]]) -> tuple[int, int]:
    """Where the longest decreasing subsequence of the losses starts and ends (indices)."""
    lengths = [1] * len(curve)
    start = end = 0
    for i in range(1, len(curve)):
        for j in range(i):
            if curve[i][1] < curve[j][1] and lengths[i] < lengths[j] + 1:
                lengths[i] = lengths[j] + 1
        if lengths[i] > lengths[end]:
            end = i
            start = end - lengths[end] + 1
    return max(0, start), end
