"""The app as the user runs it, in a process and session of its own (desktop and bundle tests).

Its stdout is read line by line; the desktop driver (driver.py) adds a remote control for the
window's page; after the app exits, its session tells whether it left anything running.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import select
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from support import Api

TOKEN = "desktop-test-token"


def session_processes(sid: int) -> list[str]:
    """Processes still running (zombies aside) in session ``sid``, as 'pid name'."""
    found = []
    for process in psutil.process_iter(["name", "status"]):
        with contextlib.suppress(OSError):  # ended meanwhile
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getsid(process.pid) == sid:
                found.append(f"{process.pid} {process.info['name']}")
    return found


class AppProcess:
    """desktop.py (or the driver, or any command) running in a session of its own."""

    def __init__(self, args: list[str], env: dict, log: Path, cwd: Path | None = None) -> None:
        self.log = log
        self._log_file = open(log, "w")  # noqa: SIM115 - closed in finish()
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env=env,
            cwd=cwd,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.base_url: str | None = None

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line.rstrip("\n"))
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, pattern: str, timeout: float = 60.0) -> re.Match:
        """Wait for a line of stdout matching ``pattern``; fail with the output so far."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None or time.monotonic() > deadline:
                pytest.fail(
                    f"no line like {pattern!r}; stdout: {self.output}; "
                    f"stderr: {self.stderr()[-3000:]}"
                )
            match = re.search(pattern, line)
            if match:
                return match

    def wait_running(self, timeout: float = 60.0) -> str:
        self.base_url = self.expect(r"running at (http://127\.0\.0\.1:\d+)", timeout).group(1)
        return self.base_url

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    # The REST API, with the token the app was started with; an error status fails the test.
    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        response = Api(self.base_url, TOKEN).request(method, path, json=body)
        assert response.status_code < 400, (method, path, response.get_json())
        return response.get_json()

    def wait_api(self, path: str, predicate, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.api("GET", path)
            if predicate(value):
                return value
            time.sleep(0.1)
        pytest.fail(f"{path} never satisfied the test; last: {value}")

    # The page in the window (driver only).
    def js(self, expression: str):
        self.proc.stdin.write(json.dumps({"js": expression}) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.expect(r"^@@ (.*)$", 20).group(1))
        if "error" in reply:
            pytest.fail(f"{expression!r} failed in the page: {reply['error']}")
        return reply["result"]

    def wait_js(self, expression: str, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        pytest.fail(f"{expression!r} stayed falsy for {timeout} s")

    def close_window(self) -> None:
        self.proc.stdin.write(json.dumps({"close": True}) + "\n")
        self.proc.stdin.flush()

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float) -> tuple[int | None, float]:
        """(exit code or None if still running, seconds waited)."""
        started = time.monotonic()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - started

    def leftovers(self, grace: float = 3.0) -> list[str]:
        """What still runs in the app's session after ``grace`` seconds at most."""
        deadline = time.monotonic() + grace
        while (left := session_processes(self.proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    def finish(self) -> None:
        """Kill whatever of the app still runs, and close the pipes to it."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for pid_name in session_processes(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_name.split()[0]), signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        self._reader.join(10)
        self.proc.stdout.close()
        self._log_file.close()


def start_xvfb(xvfb: str = "Xvfb", tries: int = 3) -> tuple[subprocess.Popen | None, str]:
    """Start Xvfb on a display it picks itself; (process, ":N"), or (None, "") if it fails."""
    for _attempt in range(tries):
        proc, number = _start_xvfb(xvfb)
        if number is not None:
            return proc, f":{number}"
    return None, ""


def _start_xvfb(xvfb: str) -> tuple[subprocess.Popen, str | None]:
    """Start Xvfb; its display number once it answers, None if it died on the way."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write_end), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    number = b""
    # Read up to the newline: closing the pipe before Xvfb wrote all of it makes Xvfb quit.
    while not number.endswith(b"\n") and select.select([read_end], [], [], 20)[0]:
        chunk = os.read(read_end, 64)
        if not chunk:
            break
        number += chunk
    os.close(read_end)
    number = number.decode().strip()
    deadline = time.monotonic() + 10
    # It may print its number and still fail to take the display (a just-closed server's
    # socket): only a real X handshake says it is there.
    while number.isdigit() and proc.poll() is None and time.monotonic() < deadline:
        if _x_answers(number):
            return proc, number
        time.sleep(0.05)
    proc.kill()
    proc.wait(10)
    return proc, None


def _x_answers(number: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(f"/tmp/.X11-unix/X{number}")
            sock.sendall(struct.pack("<cxHHHHxx", b"l", 11, 0, 0, 0))  # X11 connection setup
            return sock.recv(1) == b"\x01"  # 1: success
    except OSError:
        return False
