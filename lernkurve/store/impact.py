"""What a change did: the loss slope over the N steps before an hparams event and after it."""

from __future__ import annotations

from sqlalchemy import select

from lernkurve.shared.metrics import pick_metric
from lernkurve.store import queries
from lernkurve.store.database import Database
from lernkurve.store.models import Metric
from lernkurve.store.points import edge_blocks, steps_between

PACE_SECONDS = 5.0  # the window is about this much training time
MIN_WINDOW, MAX_WINDOW = 10, 1000
MIN_POINTS = 3


def slope(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of value over step (itself a smoothing of a noisy loss)."""
    if len(points) < MIN_POINTS:
        return None
    n = len(points)
    mean_x = sum(p[0] for p in points) / n
    mean_y = sum(p[1] for p in points) / n
    spread = sum((p[0] - mean_x) ** 2 for p in points)
    if not spread:
        return None
    return sum((p[0] - mean_x) * (p[1] - mean_y) for p in points) / spread


def _signed(value: float) -> str:
    return f"{'−' if value < 0 else ''}{abs(value):.1e}"


def describe(before: float, after: float) -> tuple[float | None, str]:
    """The ratio after/before and the sentence the page shows."""
    text = f"slope {_signed(before)} → {_signed(after)} per step"
    if before < 0 and after < 0:
        ratio = after / before
        word = f"{ratio:.1f}× faster" if ratio >= 1 else f"{1 / ratio:.1f}× slower"
        return ratio, f"{text}, {word}"
    if before < 0 <= after:
        return None, f"{text}, no longer falling"
    if after < 0 <= before:
        return None, f"{text}, now falling"
    return None, text


def changed_something(event: dict) -> bool:
    """An hparams event that changed a value (not one kept as it was, as a race's ×1 winner
    of an older release recorded): only such a change has an impact to measure."""
    payload = event.get("payload") or {}
    changes = payload.get("changes") or {}
    if payload.get("kept"):
        return False
    return any(not isinstance(c, list) or len(c) != 2 or c[0] != c[1] for c in changes.values())


class ImpactReader:
    """Reads one run's loss series to score its hparams events."""

    def __init__(self, db: Database, run_id: int) -> None:
        self.db, self.run_id = db, run_id

    def _metric(self, session) -> str | None:
        return pick_metric(queries.metric_keys(session.connection(), self.run_id))

    def _window(self, session, key: str) -> tuple[int, int]:
        """N from the run's pace (steps in PACE_SECONDS), and the last step logged."""
        where = (Metric.run_id == self.run_id, Metric.key == key)
        first = session.execute(
            select(Metric.step, Metric.wall_time)
            .where(*where, *edge_blocks(session, self.run_id, key, "first"))
            .order_by(Metric.step)
            .limit(1)
        ).first()
        last = session.execute(
            select(Metric.step, Metric.wall_time)
            .where(*where, *edge_blocks(session, self.run_id, key, "last"))
            .order_by(Metric.step.desc())
            .limit(1)
        ).first()
        seconds = (last.wall_time - first.wall_time) if last and first else 0.0
        pace = (last.step - first.step) / seconds if seconds > 0 else 0.0
        window = int(min(MAX_WINDOW, max(MIN_WINDOW, round(pace * PACE_SECONDS))))
        return window, last.step if last else -1

    def _points(self, session, key: str, low: int, high: int) -> list[tuple[int, float]]:
        query = select(Metric.step, Metric.value).where(
            Metric.run_id == self.run_id,
            Metric.key == key,
            Metric.value.is_not(None),
            *steps_between(session, low, high),
        )
        return [(row.step, row.value) for row in session.execute(query)]

    def annotate(self, events: list[dict]) -> None:
        """Add ``impact`` to every hparams event with enough steps on both sides of it."""
        changes = [e for e in events if e["kind"] == "hparams" and changed_something(e)]
        if not changes:
            return
        with self.db.Session() as session:
            key = self._metric(session)
            if key is None:
                return
            window, last_step = self._window(session, key)
            steps = [e["step"] for e in changes]
            for index, event in enumerate(changes):
                n = self._room(steps, index, window)
                if last_step < event["step"] + n - 1:
                    continue  # not enough steps after it yet
                impact = self._impact(session, key, event["step"], n)
                if impact is not None:
                    event["impact"] = impact

    @staticmethod
    def _room(steps: list[int], index: int, window: int) -> int:
        """The window, shortened so it never reaches into a neighbouring change."""
        gaps = [window]
        if index:
            gaps.append(steps[index] - steps[index - 1])
        if index + 1 < len(steps):
            gaps.append(steps[index + 1] - steps[index])
        return max(MIN_POINTS, min(gaps))

    def _impact(self, session, key: str, step: int, n: int) -> dict | None:
        points = self._points(session, key, step - n, step + n)
        before = slope([p for p in points if p[0] < step])
        after = slope([p for p in points if p[0] >= step])
        if before is None or after is None:
            return None
        ratio, text = describe(before, after)
        return {
            "metric": key,
            "window": n,
            "before": before,
            "after": after,
            "ratio": ratio,
            "text": text,
        }


def annotate(db: Database, run_id: int, events: list[dict]) -> list[dict]:
    ImpactReader(db, run_id).annotate(events)
    return events
