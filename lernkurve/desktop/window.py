"""The native window: pywebview on Qt, a loading page at once, links out to the system browser."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import webbrowser
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

TITLE = "Lernkurve"
SIZE = (1320, 860)
MIN_SIZE = (960, 640)
BACKGROUND = "#f8f9fa"

# Shown the moment the window exists, while the server and the dashboard load behind it.
LOADING_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Lernkurve</title><style>
:root { color-scheme: light dark; }
body { margin: 0; height: 100vh; display: flex; align-items: center; justify-content: center;
  font: 15px system-ui, sans-serif; background: #f8f9fa; color: #6c757d; }
@media (prefers-color-scheme: dark) { body { background: #212529; color: #adb5bd; } }
.box { text-align: center; } h1 { font-size: 22px; margin: 0 0 12px; color: #0d6efd; }
.bar { width: 180px; height: 3px; margin: 14px auto 0; overflow: hidden; border-radius: 2px;
  background: rgba(13,110,253,.15); }
.bar::after { content: ""; display: block; width: 40%; height: 100%; background: #0d6efd;
  animation: slide 1s ease-in-out infinite alternate; }
@keyframes slide { from { transform: translateX(-100%); } to { transform: translateX(250%); } }
</style></head><body><div class="box"><h1>Lernkurve</h1><div>{message}</div>
<div class="bar"></div></div></body></html>"""

ERROR_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Lernkurve</title><style>
body { font: 15px system-ui, sans-serif; margin: 48px; color: #212529; }
pre { white-space: pre-wrap; background: #f1f3f5; padding: 12px; border-radius: 4px; }
</style></head><body><h2>Lernkurve could not start</h2><pre>{message}</pre>
<p>Close this window to quit.</p></body></html>"""

# The page says it is usable once the run list is in and the live socket is connected.
READY_JS = (
    "document.documentElement.dataset.ready === 'true' && "
    "document.documentElement.dataset.connection === 'online'"
)


def loading_html(message: str = "Starting…") -> str:
    return LOADING_HTML.replace("{message}", message)


def error_html(message: str) -> str:
    from html import escape

    return ERROR_HTML.replace("{message}", escape(message))


def browser_env() -> dict[str, str]:
    """The environment for programs we start, without the bundle's library path.

    A frozen app on Linux puts its own folder first on LD_LIBRARY_PATH; a browser that inherits
    it would load our copies of libraries instead of the system's, and may not start at all.
    """
    env = dict(os.environ)
    if getattr(sys, "frozen", False):
        for name in ("LD_LIBRARY_PATH", "LIBPATH"):
            original = env.pop(f"{name}_ORIG", None)
            if original is not None:
                env[name] = original
            else:
                env.pop(name, None)
    return env


def open_external(url: str) -> None:
    """Open ``url`` in the user's browser ($BROWSER, else the desktop's default handler)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "mailto"):
        return  # file:, javascript: and the like never leave the app
    command = os.environ.get("BROWSER", "").split(os.pathsep)[0]
    if not command:
        if sys.platform == "win32":
            os.startfile(url)  # noqa: S606 - the user's default browser
            return
        if sys.platform == "darwin":
            command = "open"
        else:
            command = "xdg-open"
    args = shlex.split(command)
    args = [a.replace("%s", url) for a in args] if "%s" in command else [*args, url]
    try:
        subprocess.Popen(  # noqa: S603 - the user's own browser command
            args,
            env=browser_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the browser is not ours to wait for or to stop
        )
    except OSError:
        webbrowser.open(url)


def install_link_policy(is_app_url: Callable[[str], bool]) -> None:
    """Keep the window on the app: any other page opens in the system browser instead.

    pywebview's Qt page lets a link to another site load in the window (only new windows go
    to the browser), and any page in the window could read the app's token, so we decide here.
    """
    from webview.platforms import qt

    inside = ("data", "about", "blob")

    def allow(url: str, is_main_frame: bool) -> bool:
        if urlsplit(url).scheme in inside or is_app_url(url):
            return True
        if is_main_frame:
            open_external(url)
        return False

    def accept_in_window(page, url, kind, is_main_frame):
        return allow(url.toString(), is_main_frame)

    def accept_new_window(handler, url, kind, is_main_frame):
        """target=_blank and window.open: never a second app window, always the browser."""
        target = url.toString()
        if not is_app_url(target):
            open_external(target)
        return False

    # Patched on pywebview's classes (its code calls super() on them by name, so no subclass).
    qt.BrowserView.WebPage.acceptNavigationRequest = accept_in_window
    qt.BrowserView.NavigationHandler.acceptNavigationRequest = accept_new_window


def keep_profile_in(storage: Path) -> None:
    """Cookies, local storage and caches of the window all under ``storage`` (the data dir).

    pywebview sets the profile's storage path; Chromium's HTTP cache would still go to the
    user's cache folder under the executable's name, so it is pointed here too, before use.
    """
    from qtpy.QtCore import QCoreApplication
    from qtpy.QtGui import QGuiApplication
    from webview.platforms import qt

    # Qt's own caches (shader pipelines) go to the user's cache folder under this name,
    # not under the script's or the executable's file name; Wayland matches the .desktop id.
    QCoreApplication.setApplicationName(TITLE)
    QGuiApplication.setDesktopFileName("lernkurve")
    qt._profile_storage_path = str(storage)  # read by pywebview when it builds the profile
    original_init = qt.BrowserView.WebPage.__init__

    def init(page, parent=None, profile=None):
        if profile is not None and not profile.isOffTheRecord():
            profile.setCachePath(str(storage / "cache"))
        original_init(page, parent, profile)

    qt.BrowserView.WebPage.__init__ = init


def configure_qt_environment() -> None:
    """Environment QtWebEngine reads once, at start: quiet logs, no sandbox as root."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Chromium refuses to run its sandbox as root (containers, CI).
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    if not os.environ.get("LERNKURVE_DEBUG"):
        flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--log-level" not in flags:
            os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{flags} --log-level=3".strip()
        os.environ.setdefault("QT_LOGGING_RULES", "qt.webenginecontext.debug=false;js=false")
