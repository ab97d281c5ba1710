"""wandb's names Lernkurve does not cover: each warns once by name and does nothing.

Light on purpose: ``lernkurve.__getattr__`` imports it for any unknown name.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

# wandb's top-level names with no Lernkurve counterpart (none of them is one of our submodules:
# ``from lernkurve import tensorboard`` must find the real one).
UNSUPPORTED = frozenset(
    {
        "Api",
        "Artifact",
        "Audio",
        "BoundingBoxes2D",
        "Box3D",
        "Classes",
        "Graph",
        "Html",
        "ImageMask",
        "JoinedTable",
        "Molecule",
        "Object3D",
        "PartitionedTable",
        "Plotly",
        "Settings",
        "Video",
        "agent",
        "apis",
        "controller",
        "data_types",
        "env",
        "errors",
        "integration",
        "jupyter",
        "keras",
        "link_model",
        "log_artifact",
        "log_model",
        "login",
        "mark_preempting",
        "plot",
        "plot_table",
        "profiler",
        "require",
        "restore",
        "save",
        "sdk",
        "setup",
        "sklearn",
        "sweep",
        "teardown",
        "termerror",
        "termlog",
        "termwarn",
        "use_artifact",
        "use_model",
        "util",
        "visualize",
    }
)

_warned: set[str] = set()


def warn(message: str) -> None:
    """A UserWarning pointing at the script's own line (the first frame outside Lernkurve)."""
    frame, level = sys._getframe(1), 2  # stacklevel 2: the caller of warn()
    while frame is not None and frame.f_globals.get("__name__", "").startswith("lernkurve"):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def warn_once(name: str, what: str = "is not supported by Lernkurve") -> None:
    """One warning per name and process: ``lernkurve: wandb's NAME is not supported ...``."""
    if name in _warned:
        return
    _warned.add(name)
    warn(f"lernkurve: wandb's {name} {what}; it does nothing here (said once)")


class Silent:
    """Takes any call, attribute, item, iteration or ``with`` and does nothing."""

    def __init__(self, name: str = "") -> None:
        object.__setattr__(self, "_name", name)

    def __call__(self, *args: Any, **kwargs: Any) -> Silent:
        return self

    def __getattr__(self, attr: str) -> Silent:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return self

    def __setattr__(self, attr: str, value: Any) -> None:
        pass

    def __getitem__(self, key: Any) -> Silent:
        return self

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return False

    def __enter__(self) -> Silent:
        return self

    def __exit__(self, *exc: Any) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<lernkurve: {self._name or 'nothing'} (does nothing)>"


def unsupported(name: str) -> Silent:
    """The stand-in for one of wandb's names, with its one warning."""
    warn_once(name)
    return Silent(name)
