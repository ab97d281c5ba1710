"""Lernkurve in a native window: ``python desktop.py [--db PATH|URL] [--token T] [--headless]``.

Without a display it serves headless instead and prints the URL (see lernkurve/desktop/app.py).
"""

from lernkurve.desktop.app import exit_now, main

if __name__ == "__main__":
    exit_now(main())
