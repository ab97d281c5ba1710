"""Where the desktop app finds its own files and keeps the user's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "Lernkurve"


def resource_root() -> Path:
    """The folder holding templates/, static/ and assets/: the bundle when frozen, else the repo."""
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) if bundle else Path(__file__).resolve().parents[2]


def icon_path() -> Path:
    return resource_root() / "assets" / "icon.png"


def user_data_dir() -> Path:
    """The user's data directory (LERNKURVE_DATA_DIR overrides it), created if missing.

    The same rule as ``database.data_dir()`` (a test holds them equal), without importing
    SQLAlchemy on the main thread while the backend thread imports it for the server.
    """
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
