"""The one-file executable's payload: the app folder, compressed file by file (stdlib only).

Layout, written by :func:`pack` and spliced into the launcher just before PyInstaller's own
archive (see :mod:`lernkurve.desktop.bundle`)::

    [file data ...][index: zlib(JSON)][footer: MAGIC, index offset, index size, total, build id]

Files are separate zlib streams, so both packing and unpacking run on every core (zlib frees
the GIL while it works). The build id names the folder the app is unpacked into, once.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MAGIC = b"LKPAYLD1"
FOOTER = struct.Struct("<8sQQQ32s")  # magic, index offset, index size, payload size, build id
PYI_COOKIE_MAGIC = b"MEI\014\013\012\013\016"
PYI_COOKIE = struct.Struct("!8sIIII64s")  # PyInstaller's archive cookie (big-endian)
CHUNK = 4 << 20
LEVEL = 6


class PayloadError(RuntimeError):
    pass


def _compress(data: bytes) -> tuple[bytes, str]:
    packed = zlib.compress(data, LEVEL)
    return (packed, "zlib") if len(packed) < 0.97 * len(data) else (data, "raw")


def pack(folder: Path, out: Path, exe: str, workers: int | None = None) -> str:
    """Write ``folder`` as a payload to ``out``; return the build id. ``exe``: the app, relative."""
    import hashlib  # build time only: the launcher leaves OpenSSL out

    folder = Path(folder)
    files, entries = [], []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(dirs + names):
            path = Path(root) / name
            rel = path.relative_to(folder).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                entries.append({"path": rel, "kind": "link", "target": os.readlink(path)})
            elif stat.S_ISDIR(info.st_mode):
                entries.append({"path": rel, "kind": "dir"})
            else:
                files.append((rel, path, stat.S_IMODE(info.st_mode)))
    digest = hashlib.sha256()
    offset = 0
    workers = workers or os.cpu_count() or 1
    with open(out, "wb") as sink, ThreadPoolExecutor(workers) as pool:
        compressed = _bounded_map(pool, lambda item: _compress(item[1].read_bytes()), files)
        for (rel, path, mode), (data, codec) in zip(files, compressed, strict=True):
            sink.write(data)
            digest.update(rel.encode() + b"\0" + data)
            entries.append(
                {
                    "path": rel,
                    "kind": "file",
                    "mode": mode,
                    "offset": offset,
                    "size": len(data),
                    "usize": path.stat().st_size,
                    "codec": codec,
                }
            )
            offset += len(data)
        build_id = digest.hexdigest()[:32]
        index = zlib.compress(json.dumps({"exe": exe, "entries": entries}).encode(), 9)
        sink.write(index)
        total = offset + len(index) + FOOTER.size
        sink.write(FOOTER.pack(MAGIC, offset, len(index), total, build_id.encode()))
    return build_id


def _bounded_map(pool: ThreadPoolExecutor, func, items: list, ahead: int = 8):
    """pool.map in order, with at most ``ahead`` results in memory (files are up to 400 MB)."""
    pending = []
    for item in items:
        pending.append(pool.submit(func, item))
        if len(pending) >= ahead:
            yield pending.pop(0).result()
    for future in pending:
        yield future.result()


class Payload:
    """A payload found inside a file (the launcher executable itself)."""

    def __init__(self, path: Path, start: int, index: dict, build_id: str) -> None:
        self.path = path
        self.start = start
        self.exe = index["exe"]
        self.entries = index["entries"]
        self.build_id = build_id

    @classmethod
    def find(cls, path: Path) -> Payload:
        """Locate the payload just before PyInstaller's archive at the end of ``path``."""
        with open(path, "rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            tail_size = min(end, 64 << 20)  # the launcher's own archive is a few MB
            handle.seek(end - tail_size)
            tail = handle.read(tail_size)
            cookie_at = tail.rfind(PYI_COOKIE_MAGIC)
            if cookie_at < 0:
                raise PayloadError(f"{path}: no PyInstaller archive at its end")
            pkg_len = PYI_COOKIE.unpack_from(tail, cookie_at)[1]
            pkg_start = end - tail_size + cookie_at + PYI_COOKIE.size - pkg_len
            handle.seek(pkg_start - FOOTER.size)
            magic, index_at, index_size, total, build_id = FOOTER.unpack(handle.read(FOOTER.size))
            if magic != MAGIC:
                raise PayloadError(f"{path}: no Lernkurve payload before its archive")
            start = pkg_start - total
            handle.seek(start + index_at)
            index = json.loads(zlib.decompress(handle.read(index_size)))
        return cls(Path(path), start, index, build_id.decode())

    @property
    def unpacked_size(self) -> int:
        return sum(e.get("usize", 0) for e in self.entries)

    def unpack(
        self,
        target: Path,
        progress: Callable[[int, int], None] | None = None,
        workers: int | None = None,
    ) -> None:
        """Write every entry below ``target`` (biggest files first, on all cores)."""
        target = Path(target)
        total, done = self.unpacked_size, [0]
        for entry in self.entries:
            if entry["kind"] == "dir":
                (target / entry["path"]).mkdir(parents=True, exist_ok=True)
        files = sorted((e for e in self.entries if e["kind"] == "file"), key=lambda e: -e["size"])

        def write(entry: dict) -> None:
            dest = target / entry["path"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "rb") as source, open(dest, "wb") as sink:
                source.seek(self.start + entry["offset"])
                left = entry["size"]
                inflate = zlib.decompressobj() if entry["codec"] == "zlib" else None
                while left:
                    chunk = source.read(min(CHUNK, left))
                    if not chunk:
                        raise PayloadError(f"{self.path}: payload cut short at {entry['path']}")
                    left -= len(chunk)
                    sink.write(inflate.decompress(chunk) if inflate else chunk)
                if inflate:
                    sink.write(inflate.flush())
            os.chmod(dest, entry["mode"])
            done[0] += entry["usize"]
            if progress is not None:
                progress(done[0], total)

        with ThreadPoolExecutor(workers or min(4, os.cpu_count() or 1)) as pool:
            for _ in pool.map(write, files):
                pass
        for entry in self.entries:
            if entry["kind"] == "link":
                link = target / entry["path"]
                link.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(entry["target"], link)
