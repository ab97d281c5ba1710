"""The one-file format without building it: payload, splice, unpack once, bundle contents."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from lernkurve.desktop import bundle, launcher
from lernkurve.desktop.payload import PYI_COOKIE, PYI_COOKIE_MAGIC, Payload, PayloadError, pack
from lernkurve.web import pageassets

ROOT = Path(__file__).resolve().parents[2]


def fake_app(folder: Path) -> Path:
    """A small stand-in for the app folder: an executable, data, a symlink, an empty dir."""
    (folder / "_internal" / "lib").mkdir(parents=True)
    (folder / "lernkurve").write_bytes(b"#!/bin/sh\necho app\n")
    (folder / "lernkurve").chmod(0o755)
    (folder / "_internal" / "lib" / "big.bin").write_bytes(os.urandom(300_000) + b"\0" * 500_000)
    (folder / "_internal" / "note.txt").write_text("hello " * 1000)
    (folder / "_internal" / "empty").mkdir()
    os.symlink("lib/big.bin", folder / "_internal" / "big-link.bin")
    return folder


def fake_elf_with_archive(path: Path, pkg_body: bytes = b"PKG" * 1000) -> bytes:
    """An ELF64 file laid out as PyInstaller's: code, archive (ends in its cookie), sections."""
    pkg = pkg_body + struct.pack("!8sIIII64s", PYI_COOKIE_MAGIC, 0, 0, 0, 311, b"libpython")
    pkg = pkg[: -PYI_COOKIE.size] + struct.pack(
        "!8sIIII64s", PYI_COOKIE_MAGIC, len(pkg), 0, 0, 311, b"libpython"
    )
    code = bytearray(b"\x7fELF\x02\x01\x01" + b"\0" * 57 + b"code" * 100)
    pkg_at = len(code)
    shoff = pkg_at + len(pkg)
    sections = struct.pack("<24xQ32x", 64) + struct.pack("<24xQ32x", pkg_at)  # 2 x 64 bytes
    struct.pack_into("<Q", code, 0x28, shoff)
    struct.pack_into("<HH", code, 0x3A, 64, 2)
    path.write_bytes(bytes(code) + pkg + sections)
    return pkg


def test_payload_round_trip_keeps_files_modes_links(tmp_path):
    app = fake_app(tmp_path / "app")
    out = tmp_path / "payload.bin"
    build_id = pack(app, out, exe="lernkurve")
    exe = tmp_path / "launcher"
    pkg = fake_elf_with_archive(exe)
    bundle.splice(exe, out)

    data = exe.read_bytes()
    assert data[-128 - len(pkg) : -128] == pkg  # the archive is still last, then the sections
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    (pydata_at,) = struct.unpack_from("<Q", data, shoff + 64 + 0x18)
    assert data[pydata_at : pydata_at + 3] == b"PKG"  # the section table followed the move

    payload = Payload.find(exe)
    assert payload.build_id == build_id and payload.exe == "lernkurve"
    target = tmp_path / "unpacked"
    seen = []
    payload.unpack(target, lambda done, total: seen.append((done, total)))
    for rel in ("lernkurve", "_internal/lib/big.bin", "_internal/note.txt"):
        assert (target / rel).read_bytes() == (app / rel).read_bytes()
    assert os.access(target / "lernkurve", os.X_OK)
    assert (target / "_internal" / "empty").is_dir()
    assert os.readlink(target / "_internal" / "big-link.bin") == "lib/big.bin"
    assert seen[-1][0] == seen[-1][1] == payload.unpacked_size


def test_a_file_without_payload_is_refused(tmp_path):
    exe = tmp_path / "plain"
    fake_elf_with_archive(exe)
    with pytest.raises(PayloadError):
        Payload.find(exe)


def test_unpacks_once_per_build_and_drops_unused_old_builds(tmp_path):
    exe = tmp_path / "launcher"
    fake_elf_with_archive(exe)
    pack(fake_app(tmp_path / "app"), tmp_path / "payload.bin", exe="lernkurve")
    bundle.splice(exe, tmp_path / "payload.bin")
    cache = tmp_path / "cache"
    old, busy = cache / "app-old", cache / "app-busy"
    old.mkdir(parents=True)
    busy.mkdir()
    holder = launcher._lock(launcher.in_use_lock(busy), shared=True)  # a running old app
    splash = launcher.Splash()

    folder = launcher.ensure_unpacked(Payload.find(exe), cache, splash)
    assert (folder / "lernkurve").is_file() and (folder / ".complete").is_file()
    assert not old.exists() and busy.exists()
    os.close(holder)

    (folder / "_internal" / "note.txt").write_text("changed")  # proof it is not unpacked again
    assert launcher.ensure_unpacked(Payload.find(exe), cache, splash) == folder
    assert (folder / "_internal" / "note.txt").read_text() == "changed"
    assert not list(cache.glob(".partial-*"))


def test_app_environment_undoes_the_launchers_changes(monkeypatch):
    monkeypatch.setenv("LD_LIBRARY_PATH", "/tmp/_MEI123")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/opt/lib")
    monkeypatch.setenv("_PYI_ARCHIVE_FILE", "/x/lernkurve")
    env = launcher.app_environment()
    assert env["LD_LIBRARY_PATH"] == "/opt/lib"
    assert "LD_LIBRARY_PATH_ORIG" not in env and "_PYI_ARCHIVE_FILE" not in env
    assert env["PYINSTALLER_RESET_ENVIRONMENT"] == "1"


def test_bundle_carries_only_the_libraries_the_pages_load():
    assets = pageassets.page_assets(ROOT)
    for template in (ROOT / "templates").glob("*.html"):
        for ref in pageassets.template_refs(template.read_text()):
            assert ref in assets, f"{template.name} loads {ref}, which the bundle leaves out"
    assert any(a.endswith(".woff2") for a in assets)  # bootstrap-icons' font, via its CSS
    every_file = [p for p in (ROOT / "static" / "node_modules").rglob("*") if p.is_file()]
    assert len(assets) < len(every_file) / 10
