"""wandb's step rules, apart from any run: what ``log(data, step=, commit=)`` commits where.

- Without ``step`` a call commits its values at the current step and the step goes up by one
  (the first is 0); ``commit=False`` keeps them for the next committed step instead.
- With ``step`` the values wait (unless ``commit=True``) until a later step is logged, so
  several calls can fill one step; a step lower than the current one is dropped with a
  warning, as wandb does.
- Nested dicts become ``a/b`` keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lernkurve.tracking.wandbsurface.names import warn

# commit(step, values, next_step): values to record at step; next_step is where the loop goes
# on (None at the end: no step follows).
Commit = Callable[[int, dict, "int | None"], None]


def flatten(data: Mapping, prefix: str = "") -> dict:
    """wandb's nested dicts as ``a/b`` keys (a copy; empty groups vanish)."""
    out: dict = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "/"))
        else:
            out[name] = value
    return out


def flat_copy(data: Mapping) -> dict:
    """``flatten``, with the common case (no nested dict) a plain copy."""
    for value in data.values():
        kind = type(value)
        if kind is not float and kind is not int and isinstance(value, Mapping):
            return flatten(data)
    return dict(data)


class Stepper:
    """One run's wandb step counter and the values waiting for their step's commit."""

    def __init__(self, commit: Commit, step: int = 0) -> None:
        self.step = step
        self.pending: dict = {}
        self._commit = commit
        self._warned_back = False

    def log(self, values: dict, step: int | None = None, commit: bool | None = None) -> None:
        """Take one call's (flat) values under wandb's rules."""
        if step is not None:
            step = int(step)
            if step < self.step:
                self._dropped(step)
                return
            if step > self.step:
                self._advance(step)
        self.pending.update(values)
        if commit if commit is not None else step is None:
            self._advance(self.step + 1)

    def _advance(self, to: int) -> None:
        pending, self.pending = self.pending, {}
        at, self.step = self.step, to
        self._commit(at, pending, to)

    def close(self) -> None:
        """Commit what waits at the current step, with no step after it (the run ends)."""
        if self.pending:
            pending, self.pending = self.pending, {}
            self._commit(self.step, pending, None)

    def _dropped(self, step: int) -> None:
        if self._warned_back:
            return
        self._warned_back = True
        message = (
            f"lernkurve: log(step={step}) is lower than the current step {self.step}: steps only "
            "go up, so these values are dropped, as wandb does (later ones silently)"
        )
        warn(message)
