"""``wandb.summary``: a run's final values. Set ones are stored at once (the run's config,
``summary``); at the end go each logged key's last value and, for ``define_metric(name,
summary=...)``, its min, max, mean, first or last. Logged tensors are folded on their own
device (no sync) and read once, when the summary is read or stored."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Any

from lernkurve.shared.configs import plain_value

AGGREGATES = ("min", "max", "mean", "first", "last")
MAX_LAST = 200  # logged keys whose last value the stored summary holds


def number(value: Any) -> Any:
    """A logged value as plain data (a tensor or numpy scalar read now)."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "numel", lambda: getattr(value, "size", 1))() == 1:
        value = item()
    return plain_value(value)


def _fold(kind: str, held: Any, value: Any) -> Any:
    if held is None or kind == "last":
        return value if kind != "mean" else [value, 1]
    if kind == "first":
        return held
    if kind == "mean":
        return [held[0] + value, held[1] + 1]
    if isinstance(value, (int, float)) and isinstance(held, (int, float)):
        return min(held, value) if kind == "min" else max(held, value)
    return held.minimum(value) if kind == "min" else held.maximum(value)  # tensors, on device


def aggregates(summary: str | None, goal: str | None = None) -> tuple[str, ...]:
    """wandb's ``summary="min,max"`` (``best`` by ``goal``) as the folds to keep."""
    kinds = []
    for word in (summary or "").replace(" ", "").lower().split(","):
        if word == "best":
            word = "max" if (goal or "").lower().startswith("max") else "min"
        if word in AGGREGATES and word not in kinds:
            kinds.append(word)
    return tuple(kinds)


class Summary:
    """Item and attribute access, ``update``, ``get``, ``keys``/``items``."""

    def __init__(self, store: Callable[[dict], None] | None = None) -> None:
        object.__setattr__(self, "_store", store)
        object.__setattr__(self, "_set", {})  # what the script set itself
        object.__setattr__(self, "_last", {})  # each logged key's last value
        object.__setattr__(self, "_rules", {})  # define_metric: pattern -> folds
        object.__setattr__(self, "_kinds", {})  # key -> its folds (cached match)
        object.__setattr__(self, "_folded", {})  # key -> {fold: value}

    # -- what the run tells it ----------------------------------------------------------------

    def define(self, pattern: str, kinds: tuple[str, ...]) -> None:
        """Keep these folds for keys matching ``pattern`` (a name or a glob like ``val/*``)."""
        self._rules[pattern] = kinds
        self._kinds.clear()

    def observe(self, values: dict) -> None:
        """One committed step's values (numbers or tensors)."""
        self._last.update(values)
        if not self._rules:
            return
        for key, value in values.items():
            kinds = self._kinds.get(key)
            if kinds is None:
                kinds = self._kinds[key] = self._match(key)
            if kinds:
                folded = self._folded.setdefault(key, {})
                for kind in kinds:
                    folded[kind] = _fold(kind, folded.get(kind), value)

    def _match(self, key: str) -> tuple[str, ...]:
        for pattern, kinds in self._rules.items():
            if key == pattern or fnmatch.fnmatchcase(key, pattern):
                return kinds
        return ()

    def final(self) -> dict:
        """The summary to store at the end: last values, folds, what was set."""
        out = {k: number(v) for k, v in list(self._last.items())[-MAX_LAST:]}
        for key in self._folded:
            out[key] = self._folds(key)
        return {**out, **self._set}

    def _folds(self, key: str) -> dict:
        out = {}
        for kind, value in self._folded[key].items():
            out[kind] = number(value[0]) / value[1] if kind == "mean" else number(value)
        return out

    # -- the script's side --------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        if key in self._set:
            return self._set[key]
        if key in self._folded:
            return self._folds(key)
        if key in self._last:
            return number(self._last[key])
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        self._set.pop(key, None)
        self._last.pop(key, None)
        self._folded.pop(key, None)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"summary has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self.update({name: value})

    def __contains__(self, key: object) -> bool:
        return key in self._set or key in self._last or key in self._folded

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def keys(self) -> list[str]:
        return list(dict.fromkeys([*self._last, *self._folded, *self._set]))

    def items(self) -> list[tuple[str, Any]]:
        return [(key, self[key]) for key in self.keys()]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def update(self, data: dict) -> None:
        """Set values; each is stored with the run at once."""
        plain = {str(k): number(v) for k, v in dict(data).items()}
        self._set.update(plain)
        if self._store is not None:
            self._store(plain)

    def __repr__(self) -> str:
        return f"summary({dict(self.items())!r})"
