"""Render the desktop app's icon and splash image from the dashboard's favicon (run once, commit).

QT_QPA_PLATFORM=offscreen .venv/bin/python assets/make_assets.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PyQt6.QtCore import QByteArray, QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter
from PyQt6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parent
FAVICON = HERE.parent / "static" / "img" / "favicon.svg"


def render_icon(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def render_splash(renderer: QSvgRenderer) -> QImage:
    """A small card: the icon and the app's name; the launcher writes its progress below."""
    image = QImage(440, 200, QImage.Format.Format_RGB32)
    image.fill(QColor("#ffffff"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QColor("#dee2e6"))
    painter.drawRect(0, 0, 439, 199)
    renderer.render(painter, QRectF(32, 40, 88, 88))
    painter.setPen(QColor("#212529"))
    painter.setFont(QFont("DejaVu Sans", 26, QFont.Weight.Bold))
    painter.drawText(QRectF(140, 48, 290, 44), Qt.AlignmentFlag.AlignVCenter, "Lernkurve")
    painter.setPen(QColor("#6c757d"))
    painter.setFont(QFont("DejaVu Sans", 11))
    painter.drawText(
        QRectF(140, 92, 290, 28), Qt.AlignmentFlag.AlignVCenter, "Watch and steer training live"
    )
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication(sys.argv)  # noqa: F841 - fonts and image plugins need an application
    renderer = QSvgRenderer(QByteArray(FAVICON.read_bytes()))
    ok = render_icon(renderer, 256).save(str(HERE / "icon.png"))
    ok &= render_icon(renderer, 64).save(str(HERE / "icon.ico"))
    ok &= render_splash(renderer).save(str(HERE / "splash.png"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
