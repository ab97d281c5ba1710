"""Where Lernkurve finds its own files (pages, icons) and keeps the user's (database, ...)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "Lernkurve"


PACKAGE = Path(__file__).resolve().parent.parent  # lernkurve/, this file being in shared/


def resource_root() -> Path:
    """The folder holding templates/, static/ and assets/.

    The executable's unpacked bundle when frozen; the package itself when installed from a
    wheel (which carries them inside); else the checkout, one level above the package.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle)
    return PACKAGE if (PACKAGE / "templates").is_dir() else PACKAGE.parent


def icon_path() -> Path:
    return resource_root() / "assets" / "icon.png"


def user_data_dir() -> Path:
    """The user's data directory (LERNKURVE_DATA_DIR overrides it), created if missing."""
    import platformdirs

    override = os.environ.get("LERNKURVE_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def webview_storage_dir() -> Path:
    """Cookies and local storage of the window (theme, language): beside the database."""
    path = user_data_dir() / "webview"
    path.mkdir(parents=True, exist_ok=True)
    return path


def has_display() -> bool:
    """False on Linux and the BSDs when neither X11 nor Wayland is there to show a window."""
    if sys.platform.startswith(("win", "darwin")) or sys.platform == "cygwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
