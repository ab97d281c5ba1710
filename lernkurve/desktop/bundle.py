"""Build-time helpers for build.spec: what goes into the bundle, and the one-file assembly.

The one-file executable is PyInstaller's one-file build of a small launcher
(:mod:`lernkurve.desktop.launcher`) with the app's one-folder build spliced in as a payload, just
before PyInstaller's own archive at the end of the file. The bootloader finds its archive by
scanning back from the end, so it never reads the payload; the launcher unpacks the payload once
per build into the user's cache directory and starts the app from there on every launch.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import struct
from pathlib import Path

from lernkurve.desktop.payload import PYI_COOKIE, PYI_COOKIE_MAGIC
from lernkurve.web.pageassets import page_assets

# Files of the collected packages the app never uses (matched against paths in the bundle).
TRIM = [
    # torch: C++ test programs and libraries, protobuf compiler, headers and CMake files
    # (torch_shm_manager stays: torch looks for it when it loads).
    "torch/bin/*",
    "torch/test/*",
    "torch/include/*",
    "torch/share/*",
    "torch/lib/*test*",
    "torch/lib/libbackend_with_compiler.so",
    "torch/lib/libaoti_custom_ops.so",
    "torch/lib/*.a",
    "torch/_inductor/codegen/aoti_runtime/*",
    # Qt: QML (the window is widgets), and the Qt modules only QML plugins pull in.
    "PyQt6/Qt6/qml/*",
    "PyQt6/Qt6/lib/libQt6Quick3D*",
    "PyQt6/Qt6/lib/libQt6QuickControls2*",
    "PyQt6/Qt6/lib/libQt6QuickDialogs2*",
    "PyQt6/Qt6/lib/libQt6QuickTemplates2*",
    "PyQt6/Qt6/lib/libQt6QuickLayouts*",
    "PyQt6/Qt6/lib/libQt6QuickShapes*",
    "PyQt6/Qt6/lib/libQt6QuickParticles*",
    "PyQt6/Qt6/lib/libQt6QuickTimeline*",
    "PyQt6/Qt6/lib/libQt6QuickEffects*",
    "PyQt6/Qt6/lib/libQt6QuickVectorImage*",
    "PyQt6/Qt6/lib/libQt6Multimedia*",
    "PyQt6/Qt6/lib/libQt6SpatialAudio*",
    "PyQt6/Qt6/lib/libQt6Sensors*",
    "PyQt6/Qt6/lib/libQt6TextToSpeech*",
    "PyQt6/Qt6/lib/libQt6RemoteObjects*",
    "PyQt6/Qt6/lib/libQt6Test*",
    "PyQt6/Qt6/lib/libQt6ShaderTools*",
    "PyQt6/Qt6/lib/libQt6Pdf*",
    "PyQt6/Qt6/lib/libQt6WebSockets*",
    "PyQt6/Qt6/lib/libQt6LabsAnimation*",
    "PyQt6/Qt6/lib/libQt6LabsFolderListModel*",
    "PyQt6/Qt6/lib/libQt6LabsQmlModels*",
    "PyQt6/Qt6/lib/libQt6LabsSettings*",
    "PyQt6/Qt6/lib/libQt6LabsSharedImage*",
    "PyQt6/Qt6/lib/libQt6LabsWavefrontMesh*",
    "PyQt6/Qt6/lib/libQt6Concurrent*",
    # Qt: the GTK theme plugin drags in GTK 3 and its stack; Qt's own style is used instead.
    "PyQt6/Qt6/plugins/platformthemes/libqgtk3.so",
    "PyQt6/Qt6/plugins/printsupport/*",
    "PyQt6/Qt6/plugins/position/*",
    "PyQt6/Qt6/plugins/sensors/*",
    "PyQt6/Qt6/plugins/multimedia/*",
    "PyQt6/Qt6/plugins/texttospeech/*",
    "libgtk-3.so*",
    "libgdk-3.so*",
    "libgdk_pixbuf-2.0.so*",
    "libcairo*.so*",
    "libpango*.so*",
    "libatk*.so*",
    "libepoxy.so*",
    "libpixman-1.so*",
    "libfribidi.so*",
    "libthai.so*",
    "libdatrie.so*",
    "libcups.so*",
    "libavahi-*.so*",
    "libgnutls.so*",
    # Qt and Chromium translations: Chromium's English (and German, the app's other
    # language) are kept, Qt's own .qm files are not used by the app.
    "PyQt6/Qt6/translations/*.qm",
    "PyQt6/Qt6/translations/qtwebengine_locales/*",
    # The DevTools front-end (right click, Inspect) is off in the app.
    "PyQt6/Qt6/resources/qtwebengine_devtools_resources.pak",
]
KEEP = [
    "torch/bin/torch_shm_manager",
    "PyQt6/Qt6/translations/qtwebengine_locales/en-US.pak",
    "PyQt6/Qt6/translations/qtwebengine_locales/de.pak",
]

# Python modules the app never imports, though something in its tree mentions them.
EXCLUDES = [
    "tkinter",
    # torch runs without numpy (it only warns, which the app silences); the store packs its
    # blocks with the standard library where numpy is missing, and it is 40 MB with OpenBLAS.
    "numpy",
    "PyQt6.QtQuick",
    "PyQt6.QtQml",
    "PyQt6.QtQuickWidgets",
    "PyQt6.QtPositioning",
    "PyQt6.QtBluetooth",
    "PyQt6.QtMultimedia",
    "PyQt6.QtSensors",
    "PyQt6.QtTest",
    "PyQt6.QtPdf",
    "PyQt6.QtDesigner",
    "PyQt6.QtSql",
    "webview.platforms.gtk",
    "webview.platforms.cef",
    "webview.platforms.winforms",
    "webview.platforms.edgechromium",
    "webview.platforms.cocoa",
    "webview.platforms.android",
    "gi",
    "tensorboard",
    "torch.utils.tensorboard",
    "matplotlib",
    "pandas",
    "IPython",
    "pytest",
    "playwright",
]
# engineio chooses its async driver by name at run time; the build cannot see that import.
# Alembic runs the migration scripts from files (lernkurve/store/migrations, in app_datas) and
# imports its own commands lazily: only an older database on a user's disk needs them.
HIDDEN_IMPORTS = [
    "engineio.async_drivers.threading",
    "lernkurve.tasks.trainer",
    "alembic.command",
    "alembic.config",
    "alembic.script",
    "alembic.runtime.migration",
    "alembic.operations",
    "alembic.ddl.sqlite",
    "alembic.ddl.postgresql",
]


def trimmed(toc: list, log=print) -> list:
    """``toc`` without the entries TRIM names (KEEP wins); logs how much that leaves out."""
    kept, dropped, saved = [], 0, 0
    for entry in toc:
        dest = entry[0].replace(os.sep, "/")
        if any(fnmatch.fnmatch(dest, p) for p in TRIM) and dest not in KEEP:
            dropped += 1
            src = entry[1]
            saved += os.path.getsize(src) if src and os.path.isfile(src) else 0
        else:
            kept.append(entry)
    log(f"lernkurve: trimmed {dropped} files, {saved / 2**20:.0f} MiB")
    return kept


def app_datas(root: Path) -> list[tuple[str, str]]:
    """(source, folder in the bundle) for templates, static (only the used libraries), data."""
    datas = [
        (str(root / "templates"), "templates"),
        (str(root / "lernkurve" / "tasks" / "data"), "lernkurve/tasks/data"),
        (str(root / "lernkurve" / "store" / "migrations"), "lernkurve/store/migrations"),
        (str(root / "assets" / "icon.png"), "assets"),
    ]
    for path in sorted((root / "static").rglob("*")):
        rel = path.relative_to(root / "static")
        if path.is_file() and rel.parts[0] != "node_modules" and rel.suffix != ".json":
            datas.append((str(path), str(Path("static") / rel.parent)))
    assets = page_assets(root)
    if not any(a.endswith(".js") for a in assets):
        raise SystemExit("lernkurve: static/node_modules is missing; run `make setup` first")
    for rel in assets:
        datas.append((str(root / "static" / rel), str(Path("static") / Path(rel).parent)))
    return datas


def splice(exe: Path, payload: Path) -> None:
    """Insert ``payload`` into the one-file ``exe`` right before PyInstaller's archive."""
    data = bytearray(exe.read_bytes())
    cookie_at = data.rfind(PYI_COOKIE_MAGIC)
    if cookie_at < 0:
        raise SystemExit(f"lernkurve: {exe} has no PyInstaller archive")
    pkg_start = cookie_at + PYI_COOKIE.size - PYI_COOKIE.unpack_from(data, cookie_at)[1]
    size = payload.stat().st_size
    if data[:4] == b"\x7fELF":
        _shift_elf_sections(data, pkg_start, size)
    elif data[:2] != b"MZ":
        raise SystemExit("lernkurve: the one-file format is made for Linux and Windows executables")
    tmp = exe.with_suffix(".tmp")
    with open(tmp, "wb") as out, open(payload, "rb") as src:
        out.write(data[:pkg_start])
        shutil.copyfileobj(src, out, 16 << 20)
        out.write(data[pkg_start:])
    os.chmod(tmp, 0o755)
    os.replace(tmp, exe)


def _shift_elf_sections(data: bytearray, at: int, by: int) -> None:
    """Keep the ELF section table true when ``by`` bytes are inserted at offset ``at``.

    PyInstaller keeps its archive in a non-loaded section (``pydata``); it and the section
    table after it move; program headers and loaded segments lie before ``at`` and do not.
    """
    end = "<" if data[5] == 1 else ">"
    if data[4] == 2:  # ELFCLASS64
        shoff_at, shentsize_at, shnum_at, offset_in_entry, word = 0x28, 0x3A, 0x3C, 0x18, "Q"
    else:
        shoff_at, shentsize_at, shnum_at, offset_in_entry, word = 0x20, 0x2E, 0x30, 0x10, "I"
    (shoff,) = struct.unpack_from(end + word, data, shoff_at)
    (shentsize,) = struct.unpack_from(end + "H", data, shentsize_at)
    (shnum,) = struct.unpack_from(end + "H", data, shnum_at)
    for i in range(shnum):
        pos = shoff + i * shentsize + offset_in_entry
        (offset,) = struct.unpack_from(end + word, data, pos)
        if offset >= at:
            struct.pack_into(end + word, data, pos, offset + by)
    if shoff >= at:
        struct.pack_into(end + word, data, shoff_at, shoff + by)


# The launcher needs little of the standard library; what it leaves out it need not unpack.
LAUNCHER_EXCLUDES = [
    "hashlib",
    "_hashlib",
    "ssl",
    "_ssl",
    "bz2",
    "_bz2",
    "lzma",
    "_lzma",
    "decimal",
    "_decimal",
    "tkinter",
    "unittest",
    "pydoc",
    "sqlite3",
    "xml",
    "email",
    "http",
    "urllib.request",
    "multiprocessing",
    "asyncio",
    "csv",
    "ctypes",
]


def tk_available() -> bool:
    """The splash screen needs Tcl/Tk at build time (Debian: python's tkinter, tk8.6)."""
    try:
        import _tkinter  # noqa: F401
    except ImportError:
        print("lernkurve: no Tcl/Tk here, so the executable gets no splash screen")
        return False
    return True
