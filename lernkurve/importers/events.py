"""TensorBoard's Event records as scalars, parsed with TensorBoard's own protobuf classes: the
old ``simple_value`` summaries and the tensor summaries of the "scalars" plugin. Metric keys of
any length map to at most 100 characters, the same way every time."""

from __future__ import annotations

import hashlib
import importlib
from typing import Any

from lernkurve.store.points import MAX_KEY, stored_key

TENSORBOARD_PIN = "tensorboard==2.21.0"
HASH_HEX = 8  # a long tag keeps MAX_KEY - 9 characters, then "~" and 8 hex digits


class NotAnEvent(Exception):
    """A record whose checksums are right but whose bytes are not a TensorBoard Event."""


def require() -> Any:
    """TensorBoard's Event class; an ImportError that says in one line what to install."""
    try:  # the package first: a submodule imported before is found even when it is gone
        importlib.import_module("tensorboard")
        return importlib.import_module("tensorboard.compat.proto.event_pb2").Event
    except ImportError as err:
        raise ImportError(
            f"lernkurve.tensorboard import needs tensorboard: pip install {TENSORBOARD_PIN} "
            "(or pip install -r requirements-extras.txt)"
        ) from err


def metric_key(tag: str) -> str:
    """The key a tag is stored under: the tag itself up to MAX_KEY characters, else its first
    MAX_KEY - 9 characters, "~" and 8 hex digits of its hash (so two long tags stay apart and
    a tag always gets the same key)."""
    if len(tag) <= MAX_KEY:
        return stored_key(tag)
    digest = hashlib.blake2b(tag.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    return stored_key(tag[: MAX_KEY - HASH_HEX - 1]) + "~" + digest


class ScalarParser:
    """Turns one run's records into (tag, step, wall_time, value).

    A tensor summary names its plugin only the first time a tag is written to a file, so the
    tags known to be scalars are kept across the run's files and imports (``scalar_tags``).
    """

    def __init__(self, scalar_tags: set[str]) -> None:
        self.event_class = require()
        self.scalar_tags = scalar_tags
        self.other_tags: set[str] = set()

    def scalars(self, data: bytes) -> list[tuple[str, int, float, float]]:
        try:
            event = self.event_class.FromString(data)
        except Exception as err:  # protobuf's DecodeError, or a message nested too deep
            raise NotAnEvent(f"not a TensorBoard event: {err}") from err
        if event.WhichOneof("what") != "summary":
            return []
        step, wall, found = event.step, event.wall_time, []
        for value in event.summary.value:
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                tag = value.tag
                found.append((tag, step, wall, value.simple_value))
                if tag not in self.scalar_tags:
                    self.scalar_tags.add(tag)
            elif kind == "tensor":
                number = self._tensor_scalar(value)
                if number is not None:
                    found.append((value.tag, step, wall, number))
        return found

    def _tensor_scalar(self, value) -> float | None:
        tag = value.tag
        if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
            if value.metadata.plugin_data.plugin_name == "scalars":
                self.scalar_tags.add(tag)
                self.other_tags.discard(tag)
            else:
                self.other_tags.add(tag)
        if tag not in self.scalar_tags or tag in self.other_tags:
            return None
        tensor = value.tensor
        if any(dim.size != 1 for dim in tensor.tensor_shape.dim):
            return None  # not one number
        for field in (tensor.float_val, tensor.double_val, tensor.int_val, tensor.int64_val):
            if len(field) == 1:
                return float(field[0])
        try:
            from tensorboard.util import tensor_util

            array = tensor_util.make_ndarray(tensor)
            return float(array.item()) if array.size == 1 else None
        except (ValueError, TypeError):
            return None
