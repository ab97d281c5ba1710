"""Shared fixtures: a real database per test, the real Flask and Socket.IO test clients.

The database is a SQLite file, or with ``--store=postgres`` (or LERNKURVE_TEST_STORE=postgres)
a fresh database in a PostgreSQL cluster the session starts on a free port. Tests marked
``postgres`` run on both stores whatever the option says.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile

import pytest

from support import (
    DIST_BUILD,
    PG_BIN,
    PG_PACKAGE,
    TOKEN,
    Api,
    DistBuild,
    LiveServer,
    PostgresCluster,
)

STORES = ("sqlite", "postgres")
BUNDLE_TESTS = "tests/bundle/test_bundle.py"  # the tests of the executable `make dist` builds


def pytest_addoption(parser):
    parser.addoption(
        "--store",
        choices=STORES,
        default=os.environ.get("LERNKURVE_TEST_STORE", "sqlite"),
        help="the database behind the db_path fixture (default: LERNKURVE_TEST_STORE or sqlite)",
    )


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("postgres") and "store" in metafunc.fixturenames:
        metafunc.parametrize("store", STORES, indirect=True)


def pytest_collection_modifyitems(config, items):
    bundle = [item for item in items if item.get_closest_marker("bundle")]
    if bundle:  # last: the one-file build (minutes, mostly one core) runs beside the others
        items[:] = [item for item in items if not item.get_closest_marker("bundle")] + bundle
    if config.getoption("store") != "postgres":
        return
    skip = pytest.mark.skip(reason="reads or locks the SQLite file itself")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)


def is_xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config):
    """Under pytest-xdist the controller starts `make dist` (below): its workers wait for it
    in the folder this names."""
    if getattr(config.option, "numprocesses", None) and not is_xdist_worker(config):
        os.environ[DistBuild.ENV] = tempfile.mkdtemp(prefix="lernkurve-dist-")


def pytest_collection_finish(session):
    """Without xdist: start the build once the bundle tests are known to run."""
    if is_xdist_worker(session.config) or session.config.option.collectonly:
        return
    if any("executable" in getattr(item, "fixturenames", ()) for item in session.items):
        session.config.stash[DIST_BUILD] = DistBuild.start()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """The xdist controller: start the build as soon as a worker has collected a bundle test."""
    config = node.config
    if DIST_BUILD not in config.stash and any(i.startswith(BUNDLE_TESTS) for i in ids):
        config.stash[DIST_BUILD] = DistBuild.start(os.environ[DistBuild.ENV])


def pytest_sessionfinish(session):
    build = session.config.stash.get(DIST_BUILD, None)
    if build is not None:
        build.stop()


def pytest_report_header(config):
    return f"lernkurve store: {config.getoption('store')}"


@pytest.fixture(scope="session")
def postgres_cluster():
    """One throwaway PostgreSQL cluster for the session (skips when PostgreSQL is missing)."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(
            f"PostgreSQL is not installed ({PG_BIN}/initdb missing): install the Debian package "
            f"'{PG_PACKAGE}' (make test does as root) or set LERNKURVE_PG_BIN"
        )
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip("psycopg is not installed: pip install 'lernkurve[postgres]'")
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def store(request):
    return getattr(request, "param", None) or request.config.getoption("store")


@pytest.fixture
def db_path(request, store, tmp_path):
    """The test's database: a SQLite file path, or the URL of a fresh PostgreSQL database."""
    if store == "sqlite":
        yield tmp_path / "lernkurve.db"
        return
    cluster = request.getfixturevalue("postgres_cluster")
    url, name = cluster.new_database()
    yield url
    close_databases()
    cluster.drop_database(name)


def close_databases() -> None:
    """Close the pooled connections this process's scripts opened (training.open_database)."""
    training = sys.modules.get("lernkurve.tracking.client")
    if training is not None:
        for db in list(training._databases.values()):
            db.dispose()
        training._databases.clear()


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Keep every test's files (database default, checkpoints) in its own temp folder."""
    folder = tmp_path / "data"
    monkeypatch.setenv("LERNKURVE_DATA_DIR", str(folder))
    monkeypatch.delenv("LERNKURVE_DB", raising=False)
    monkeypatch.delenv("LERNKURVE_TOKEN", raising=False)
    return folder


@pytest.fixture
def app(db_path, data_dir):
    from lernkurve.launch import build_app
    from lernkurve.web.app import start_app

    app = start_app(
        build_app({"DATABASE": str(db_path), "TOKEN": TOKEN, "DATA_DIR": str(data_dir)})
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


@pytest.fixture(scope="module")
def live_cli(request, tmp_path_factory):
    """A live trial.py run (100,000 steps of 20 ms, 5 of them done) that a module's tests
    drive through the CLI or `lernkurve mcp`; ``run_id`` and ``records`` name it."""
    from scripting import LiveCli

    live = LiveCli(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))
    live.run_id, live.records = live.start(100_000, 0.02, "main")
    live.records.wait_past(5)
    yield live
    live.close()
