"""``wandb.config`` over a run's live hyperparameters: a key the app changed reads its new
value, so a loop that feeds ``config.lr`` into its optimizer every step is steered as it is.

Keys are the run's flat names (``{"optim": {"lr": 1}}`` is ``optim.lr``); ``config.optim``
gives the group back as a dict. Reading a key counts as the loop using it (the run warns about
live changes nobody reads); ``keys``, ``items`` and ``as_dict`` do not count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from lernkurve.shared.configs import SEPARATOR, flatten

Hook = Callable[[str], None]
NewKeys = Callable[[dict], None]


def _nest(flat: dict) -> dict:
    """Flat ``a.b`` keys back into nested dicts (a name both a value and a group stays flat)."""
    out: dict = {}
    for key, value in flat.items():
        *groups, last = key.split(SEPARATOR)
        here: dict | None = out
        for group in groups:
            here = here.setdefault(group, {})
            if not isinstance(here, dict):
                here = None
                break
        if here is None or isinstance(here.get(last), dict):
            out.setdefault(key, value)
        else:
            here[last] = value
    return out


class WandbConfig:
    """Attribute and item access, ``update``, ``keys``/``items``/``get``, ``as_dict``."""

    def __init__(self, values: dict, on_new: NewKeys | None = None, on_read: Hook | None = None):
        object.__setattr__(self, "_values", values)  # the run's LiveConfig
        object.__setattr__(self, "_on_new", on_new)
        object.__setattr__(self, "_on_read", on_read)

    def _peek(self, key: str) -> Any:
        return dict.get(self._values, key)

    def _read(self, key: str) -> Any:
        values = self._values
        if key in values:
            value = values[key]  # the LiveConfig counts the loop's reads
            if self._on_read is not None:
                self._on_read(key)
            return value
        prefix = f"{key}{SEPARATOR}"
        group = {k[len(prefix) :]: values[k] for k in list(values) if k.startswith(prefix)}
        if group:
            return _nest(group)
        raise KeyError(key)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._read(name)
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __getitem__(self, key: str) -> Any:
        return self._read(key)

    def __setattr__(self, name: str, value: Any) -> None:
        self.update({name: value})

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __contains__(self, key: object) -> bool:
        return key in self._values or key in self._top()

    def __iter__(self) -> Iterator[str]:
        return iter(self._top())

    def __len__(self) -> int:
        return len(self._top())

    def __repr__(self) -> str:
        return f"config({self.as_dict()!r})"

    def _top(self) -> dict:
        return self.as_dict()

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self._read(key)
        except KeyError:
            return default

    def keys(self):
        return self._top().keys()

    def items(self):
        return self._top().items()

    def values(self):
        return self._top().values()

    def as_dict(self) -> dict:
        """The config as nested plain data (its live values now)."""
        return _nest({key: self._peek(key) for key in list(self._values)})

    def update(self, data: Any, allow_val_change: bool | None = None) -> None:
        """Set keys (a dict, ``argparse.Namespace``, dataclass ...); new ones join the run."""
        flat, _ = flatten(data)
        values, new = self._values, {}
        for key, value in flat.items():
            if key in values:
                values[key] = value
            else:
                new[key] = value
        if new:
            if self._on_new is not None:
                self._on_new(new)
            else:
                values.update(new)

    def setdefaults(self, data: Any) -> None:
        """Set only the keys not set yet."""
        flat, _ = flatten(data)
        self.update({k: v for k, v in flat.items() if k not in self._values})


def live_keys(values: dict) -> list[str]:
    """The keys the app may change when a wandb script names none: every number and flag."""
    from lernkurve.shared.hparams import LIVE_TYPES, schema_from_config

    return [k for k, spec in schema_from_config(values, None).items() if spec["type"] in LIVE_TYPES]
