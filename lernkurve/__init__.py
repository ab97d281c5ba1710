"""Watch and steer PyTorch training live: ``lernkurve.init(...)`` in a training script.

The public API (``init``, ``Run``, ``HParamError``) is imported on first use, so that
``import lernkurve`` stays cheap for the app, which needs neither torch nor the training side.
``import lernkurve as wandb`` gives wandb's common surface too (``log``, ``config``,
``summary``, ``watch``, ``finish``, ``Image`` ...: lernkurve.tracking.wandbsurface); wandb's
other names warn once and do nothing.
"""

from __future__ import annotations

__version__ = "0.2.0"
__all__ = ["HParamError", "ResumeError", "Run", "__version__", "init"]

# No import statements for these, not even under TYPE_CHECKING: PyInstaller follows every
# import it sees, and the executable's small launcher imports this package.
_WANDB = "lernkurve.tracking.wandbsurface."
_LAZY = {
    "init": _WANDB + "entry",  # lernkurve.tracking.client.init, or wandb's init
    "Run": "lernkurve.tracking.run",
    "HParamError": "lernkurve.shared.hparams",
    "ResumeError": "lernkurve.tracking.resume",
    **dict.fromkeys(
        ("run", "config", "summary", "log", "watch", "unwatch", "define_metric", "alert",
         "finish", "AlertLevel", "Error"),
        _WANDB + "api",
    ),
    **dict.fromkeys(("Histogram", "Image", "Table"), _WANDB + "media"),
}  # fmt: skip


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if not name.startswith("_"):
        names = importlib.import_module(_WANDB + "names")
        if name in names.UNSUPPORTED:
            return names.unsupported(name)
    raise AttributeError(f"module 'lernkurve' has no attribute {name!r}")
