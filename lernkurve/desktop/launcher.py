"""First stage of the one-file executable: unpack the app once per build, then become it.

PyInstaller's one-file mode would unpack all of torch and Qt (over 1 GB) into a fresh temp
folder on every launch. Instead this small launcher, itself a PyInstaller one-file program,
carries the app's one-folder build as a payload (see :mod:`lernkurve.desktop.payload`). On the
first launch of a build it unpacks it into the user's cache directory under the build's id;
on every launch it then replaces itself with the app there (``exec``: same process, so signals
and the exit code pass straight through). A splash screen shows from the first moment and stays
until the app's window is on screen.

Only the standard library (and platformdirs) may be imported here: this file runs before
anything else is unpacked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from pathlib import Path

APP_NAME = "Lernkurve"


class Splash:
    """PyInstaller's bootloader splash (Tk), when the build has one and a display is there."""

    def __init__(self) -> None:
        self.module = None
        if "_PYI_SPLASH_IPC" in os.environ:
            with contextlib.suppress(Exception):
                import pyi_splash

                self.module = pyi_splash if pyi_splash.is_alive() else None
        self._last = ""

    def text(self, message: str) -> None:
        if self.module is not None and message != self._last:
            self._last = message
            with contextlib.suppress(Exception):
                self.module.update_text(message)

    def close(self) -> None:
        if self.module is not None:
            with contextlib.suppress(Exception):
                self.module.close()

    def hand_over(self, env: dict) -> None:
        """Keep the splash up across exec: the app closes it once its window shows."""
        if self.module is None:
            return
        fd = self.module._ipc_socket.fileno()
        os.set_inheritable(fd, True)
        env["LERNKURVE_SPLASH_FD"] = str(fd)


def cache_root() -> Path:
    override = os.environ.get("LERNKURVE_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, False))


def _lock(path: Path, shared: bool = False, wait: bool = True):
    """An advisory file lock (None where locking is not available); closing the fd frees it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        import fcntl
    except ImportError:  # Windows: files in use cannot be deleted anyway
        return fd
    flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB)
    try:
        fcntl.flock(fd, flags)
    except OSError:
        os.close(fd)
        return None
    return fd


def ensure_unpacked(payload, root: Path, splash: Splash) -> Path:
    """The folder holding this build's app, unpacked now if this is its first launch."""
    target = root / f"app-{payload.build_id}"
    done = target / ".complete"
    if done.is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    lock = _lock(root / ".unpack.lock")  # a second launch meanwhile waits, then reuses
    try:
        if done.is_file():
            return target
        partial = root / f".partial-{payload.build_id}-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        started = time.monotonic()
        mib = payload.unpacked_size / 2**20
        splash.text(f"First start: unpacking {mib:.0f} MB…")

        def progress(done_bytes: int, total: int) -> None:
            splash.text(f"First start: unpacking… {100 * done_bytes // total}%")

        payload.unpack(partial, progress)
        (partial / ".complete").write_text(payload.build_id)
        shutil.rmtree(target, ignore_errors=True)  # a half-deleted older copy, if any
        os.replace(partial, target)
        print(
            f"lernkurve: unpacked the app once into {target} "
            f"({mib:.0f} MB, {time.monotonic() - started:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
        remove_old_builds(root, keep=target)
    finally:
        if lock is not None:
            os.close(lock)
    return target


def in_use_lock(folder: Path) -> Path:
    """Beside the folder, not in it: the app never writes into its own folder."""
    return folder.with_name(folder.name + ".in-use")


def remove_old_builds(root: Path, keep: Path) -> None:
    """Delete other builds' folders that no running app holds (each holds a shared lock)."""
    for folder in root.glob("app-*"):
        if folder == keep or not folder.is_dir():
            continue
        lock = _lock(in_use_lock(folder), wait=False)
        if lock is not None:  # nobody uses it
            shutil.rmtree(folder, ignore_errors=True)
            in_use_lock(folder).unlink(missing_ok=True)
            os.close(lock)
    for partial in root.glob(".partial-*"):
        pid = partial.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def app_environment() -> dict:
    """This process's environment as the user started it, minus the launcher's own changes."""
    env = dict(os.environ)
    for name in ("LD_LIBRARY_PATH", "LIBPATH", "DYLD_LIBRARY_PATH"):
        original = env.pop(f"{name}_ORIG", None)
        if original is not None:
            env[name] = original
        else:
            env.pop(name, None)
    for name in list(env):
        if name.startswith("_PYI_") or name in ("TCL_LIBRARY", "TK_LIBRARY"):
            del env[name]
    env["PYINSTALLER_RESET_ENVIRONMENT"] = "1"  # the app is a PyInstaller program of its own
    return env


def main() -> int:
    launched_at = time.time()
    from lernkurve.desktop.payload import Payload, PayloadError

    splash = Splash()
    try:
        payload = Payload.find(Path(sys.executable))
        folder = ensure_unpacked(payload, cache_root(), splash)
    except (PayloadError, OSError) as err:
        print(f"lernkurve: cannot unpack the app: {err}", file=sys.stderr)
        return 1
    app = folder / payload.exe
    env = app_environment()
    env["LERNKURVE_LAUNCHED_AT"] = repr(launched_at)
    in_use = _lock(in_use_lock(folder), shared=True)  # held by the app for as long as it runs
    if in_use is not None:
        os.set_inheritable(in_use, True)
    splash.text("Starting…")
    args = [str(app), *sys.argv[1:]]
    if sys.platform == "win32":  # no exec there: run it and pass its exit code on
        import subprocess

        splash.close()
        return subprocess.call(args, env=env)
    splash.hand_over(env)
    os.execve(app, args, env)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
