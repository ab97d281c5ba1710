"""Shared fixtures: a real SQLite file per test, the real Flask and Socket.IO test clients."""

from __future__ import annotations

import pytest

from support import TOKEN, Api, LiveServer


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Keep every test's files (database default, checkpoints) in its own temp folder."""
    folder = tmp_path / "data"
    monkeypatch.setenv("LERNKURVE_DATA_DIR", str(folder))
    monkeypatch.delenv("LERNKURVE_DB", raising=False)
    monkeypatch.delenv("LERNKURVE_TOKEN", raising=False)
    return folder


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "lernkurve.db"


@pytest.fixture
def app(db_path, data_dir):
    from lernkurve.app import create_app, start_app

    app = start_app(
        create_app({"DATABASE": str(db_path), "TOKEN": TOKEN, "DATA_DIR": str(data_dir)})
    )
    yield app
    app.extensions["lernkurve"].shutdown()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def live_server(app):
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def api(client):
    return Api(client)


@pytest.fixture
def socket_client(app, client):
    socketio = app.extensions["socketio"]
    clients = []

    def connect(**kwargs):
        kwargs.setdefault("auth", {"token": TOKEN})
        sc = socketio.test_client(app, flask_test_client=client, **kwargs)
        clients.append(sc)
        return sc

    yield connect
    for sc in clients:
        if sc.is_connected():
            sc.disconnect()
