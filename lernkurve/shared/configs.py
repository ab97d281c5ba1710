"""A training script's config as plain data, as people write it: whatever ``init(config=...)``
is given becomes a flat dict of JSON values, never a pickled object.

Accepted: a dict, ``vars(args)`` or the ``argparse.Namespace`` itself, a dataclass (Hugging
Face's ``TrainingArguments`` too), an OmegaConf/Hydra config, a pydantic model, or anything
with ``to_dict()``. Nested groups are flattened to ``a.b``; enums become their value, paths
text, tuples and sets lists, numpy/torch scalars numbers. Anything else is kept as its text,
and the caller gets one note naming those keys.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import sys
from collections.abc import Mapping
from typing import Any

MAX_TEXT = 1000  # characters of one text value; longer ones are cut, with a note
SEPARATOR = "."  # nested groups: {"optim": {"lr": 1}} is "optim.lr"
SCALARS = (bool, int, float, str, type(None))


def as_mapping(config: Any) -> Mapping | None:
    """The config's own mapping, or None when it is not a config-like object."""
    omegaconf = sys.modules.get("omegaconf")  # a Hydra config; never imported here
    if omegaconf is not None and isinstance(config, omegaconf.DictConfig):
        return omegaconf.OmegaConf.to_container(config, resolve=True)
    if isinstance(config, Mapping):
        return config
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    for method in ("model_dump", "to_dict"):  # pydantic; transformers' and others' configs
        convert = getattr(config, method, None)
        if callable(convert) and not isinstance(config, type):
            converted = convert()
            return converted if isinstance(converted, Mapping) else None
    if type(config).__name__ == "Namespace" and hasattr(config, "__dict__"):  # argparse & co
        return vars(config)
    return None


def flatten(config: Any) -> tuple[dict, list[str]]:
    """``(values, texts)``: the config as flat plain data, and the keys kept as text (each
    with why)."""
    if config is None:
        return {}, []
    mapping = as_mapping(config)
    if mapping is None:
        raise TypeError(
            f"config must be a dict (or vars(args), a dataclass, an OmegaConf config), "
            f"got {type(config).__name__}"
        )
    values: dict = {}
    texts: list[str] = []
    _walk(mapping, "", values, texts)
    return values, texts


def _walk(mapping: Mapping, prefix: str, out: dict, texts: list[str]) -> None:
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        nested = None if isinstance(value, SCALARS) else as_mapping(value)
        if nested:
            _walk(nested, name + SEPARATOR, out, texts)
        else:
            out[name] = plain_value(value, name, texts)


def plain_value(value: Any, name: str = "", texts: list[str] | None = None) -> Any:
    """One value as JSON data; what has no plain form becomes text and its name goes to
    ``texts``."""
    texts = [] if texts is None else texts
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, float) and not math.isfinite(value):
        return _as_text(repr(value), name, texts, "a non-finite float")
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else _as_text(value, name, texts, "cut")
    if isinstance(value, SCALARS):
        return value
    if isinstance(value, os.PathLike):
        return os.fsdecode(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [plain_value(item, name, texts) for item in items]
    mapping = as_mapping(value)
    if mapping is not None:
        return {str(k): plain_value(v, name, texts) for k, v in mapping.items()}
    item = getattr(value, "item", None)  # a numpy or one-element torch scalar
    if callable(item) and getattr(value, "ndim", None) == 0:
        return plain_value(item(), name, texts)
    kind = type(value)
    return _as_text(str(value), name, texts, f"{kind.__module__}.{kind.__qualname__}")


def _as_text(text: str, name: str, texts: list[str], why: str) -> str:
    entry = f"{name} ({why})"
    if entry not in texts:
        texts.append(entry)
    return text[:MAX_TEXT]


def texts_note(texts: list[str]) -> str:
    """The one line that says which values were kept as text, and why."""
    named = ", ".join(texts[:10]) + (f" and {len(texts) - 10} more" if len(texts) > 10 else "")
    return f"config values kept as text (no plain form, or longer than {MAX_TEXT}): {named}"
