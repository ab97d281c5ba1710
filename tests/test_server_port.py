"""A taken port: the desktop falls back to a free one, the headless server says so in one line."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from lernkurve.desktop.backend import Backend
from support import ROOT, TOKEN


@pytest.fixture
def busy_port():
    """A port some other program holds, listening on 127.0.0.1."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_the_desktop_falls_back_to_a_free_port_when_the_last_one_is_taken(
    tmp_path, db_path, busy_port
):
    port_file = tmp_path / "desktop-port.json"
    port_file.write_text(json.dumps({"port": busy_port}))
    backend = Backend({"DATABASE": str(db_path), "TOKEN": TOKEN}, port_file).start()
    try:
        assert backend.wait(30), backend.error
        assert backend.server.port != busy_port
        assert json.loads(port_file.read_text()) == {"port": backend.server.port}
    finally:
        backend.stop()


def test_the_headless_server_names_a_taken_port_in_one_line(db_path, busy_port):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "webserver.py"),
            "--db",
            str(db_path),
            "--port",
            str(busy_port),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert (
        out.stderr == f"lernkurve: cannot serve on 127.0.0.1:{busy_port}: Address already in use\n"
    )
