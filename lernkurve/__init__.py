"""Watch and steer PyTorch training live: ``lernkurve.init(...)`` in a training script.

The public API (``init``, ``Run``, ``HParamError``) is imported on first use, so that
``import lernkurve`` stays cheap for the app, which needs neither torch nor the training side.
"""

from __future__ import annotations

__version__ = "0.2.0"
__all__ = ["HParamError", "ResumeError", "Run", "__version__", "init"]

# No import statements for these, not even under TYPE_CHECKING: PyInstaller follows every
# import it sees, and the executable's small launcher imports this package.
_LAZY = {
    "init": "lernkurve.tracking.client",
    "Run": "lernkurve.tracking.run",
    "HParamError": "lernkurve.shared.hparams",
    "ResumeError": "lernkurve.tracking.resume",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lernkurve' has no attribute {name!r}")
