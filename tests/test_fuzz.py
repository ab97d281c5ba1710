"""Property-based fuzzing of every REST route and socket event (Hypothesis, about 30 s).

Whatever arrives: no 5xx, errors in the shape ``{"error": {"code", "message"}}`` (sockets:
``{"ok": false, "error": {...}}``), a rejected request changes nothing in the database, and
no request hangs (a 30 s guard, not a speed: benchmarks/bench_api.py times the answers).
"""

from __future__ import annotations

import json
import re
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lernkurve.store.models import Checkpoint, Event, Snapshot, now
from support import TOKEN, open_sqlite

# Seconds. It catches a hang (a fuzzed body that ties up a request thread), not a speed: no
# loaded machine comes near it. How fast the answers are is benchmarks/bench_api.py's.
HANG_GUARD = 30.0
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,  # no .hypothesis folder in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HUGE = [2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]

# Values of every JSON type, with the edges that broke things before: huge numbers, odd floats.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "task", "name", "hparams", "lr", "batch_size", "action", "checkpoint_id", "lr_mode",
    "run_id", "since_id", "epochs", "optimizer", "momentum", "tags", "notes",
]  # fmt: skip
objects = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=5)
bodies = st.one_of(
    objects.map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.integers(1, 20_000).map(lambda n: "[" * n + "]" * n),
)
QUERY_NAMES = [
    "keys", "since_id", "max_points", "kind", "latest", "force", "key", "token", "tag", "metric",
    "mode",
]  # fmt: skip
query_values = st.one_of(
    st.integers().map(str),
    st.sampled_from([str(v) for v in HUGE] + ["", "1e3", "-1", "0", "1", "nan"]),
    st.text(max_size=20),
    st.lists(st.text(max_size=5), max_size=200).map(",".join),
)
queries = st.dictionaries(st.sampled_from(QUERY_NAMES), query_values, max_size=3)
ROUTE_TAILS = [
    "", "/hparams", "/control", "/metrics", "/events", "/checkpoints", "/snapshots", "/fork",
    "/export.csv", "/lr_test", "/race", "/autopilot", "/recipe", "/checkpoints/1",
    "/checkpoints/2", "/media/x.png", "/media/..%2F..%2Fx.png",
]  # fmt: skip
METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


def dump(db_path) -> list:
    """Every row of every table, in order: what "nothing changed" is compared against."""
    with open_sqlite(db_path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [(t, conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall()) for t in tables]


@pytest.fixture
def fuzz_app(db_path, data_dir, tmp_path):
    """An app without a trainer (fuzzed new runs stay queued), seeded with runs of each kind."""
    from lernkurve.launch import build_app
    from lernkurve.web.app import start_app

    app = start_app(
        build_app(
            {
                "DATABASE": str(db_path),
                "TOKEN": TOKEN,
                "DATA_DIR": str(data_dir),
                "START_WORKER": False,
            }
        )
    )
    seed(app, tmp_path)
    yield app
    app.extensions["lernkurve"].shutdown()


@pytest.fixture
def fuzz_socket(fuzz_app):
    """One connection for all examples: what one client sends must not break it either."""
    sc = fuzz_app.extensions["socketio"].test_client(fuzz_app, auth={"token": TOKEN})
    yield sc
    sc.disconnect()


def seed(app, tmp_path) -> None:
    db = app.extensions["lernkurve"].db
    far = now() + 10**6  # a heartbeat the liveness sweep never finds stale
    schema = {"lr": {"type": "float", "min": 1e-6, "max": 10.0, "default": 0.1, "live": True}}
    config = {"schema": schema}
    stopped = db.insert_run(name="done", task="spiral", status="stopped", config=config)
    db.insert_run(name="live", task="spiral", status="running", heartbeat_at=far, config=config)
    db.insert_run(name="queued", task="digits", status="queued", config=config)
    ckpt = tmp_path / "step-5.pt"
    ckpt.write_bytes(b"not really a model")
    with db.Session() as session:
        session.add(Checkpoint(run_id=stopped.id, step=5, path=str(ckpt), created_at=now()))
        session.add(Event(run_id=stopped.id, step=3, kind="note", payload={"message": "hi"}))
        session.add(Snapshot(run_id=stopped.id, step=4, kind="boundary", payload={}))
        session.commit()
    with db.engine.begin() as conn:
        db.insert_metrics(conn, [(stopped.id, "loss", s, 1.0 / (s + 1), 0.0) for s in range(50)])


def check_error_shape(response) -> None:
    error = response.get_json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]


@pytest.mark.sqlite_only
@FUZZ
@given(
    method=st.sampled_from(METHODS),
    run=st.one_of(st.sampled_from(["1", "2", "3", "999"]), st.sampled_from(HUGE).map(str)),
    tail=st.sampled_from(ROUTE_TAILS),
    query=queries,
    body=st.none() | bodies,
)
@example(method="POST", run="999", tail="", query={}, body="[" * 5000 + "]" * 5000)
@example(method="GET", run="1", tail="/metrics", query={"since_id": str(2**63)}, body=None)
@example(method="GET", run="1", tail="/metrics", query={"keys": "k," * 32_000}, body=None)
@example(method="DELETE", run="2", tail="", query={}, body=None)
def test_no_rest_request_gets_a_5xx_or_changes_data_when_refused(
    fuzz_app, db_path, method, run, tail, query, body
):
    client = fuzz_app.test_client()
    path = "/api/runs" if run == "999" and tail == "" and method == "POST" else f"/api/runs/{run}"
    before = dump(db_path)
    started = time.perf_counter()
    response = client.open(
        path + tail,
        method=method,
        query_string=query,
        data=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    response.get_data()  # a streamed answer (CSV) is produced here
    elapsed = time.perf_counter() - started
    response.close()
    assert response.status_code < 500, response.get_data(as_text=True)
    assert elapsed < HANG_GUARD
    if response.status_code >= 400:
        check_error_shape(response)
        assert dump(db_path) == before


# Not starting with "/": the test client would read "//x" as a URL naming the host x.
URL_PATH = st.text(
    st.characters(exclude_characters="?#", exclude_categories=["Cs"]), max_size=40
).map(lambda path: path.lstrip("/"))


@pytest.mark.sqlite_only
@FUZZ
@given(
    path=URL_PATH | st.sampled_from(["api/health", "api/tasks", "api/runs", "socket.io/"]),
    query=queries,
    method=st.sampled_from(METHODS),
)
def test_no_request_anywhere_gets_a_5xx(fuzz_app, db_path, path, query, method):
    before = dump(db_path)
    client = fuzz_app.test_client()
    response = client.open("/" + path, method=method, query_string=query)
    response.close()
    assert response.status_code < 500
    if response.status_code >= 400:
        if path.startswith("api/"):
            check_error_shape(response)
        assert dump(db_path) == before


@pytest.mark.sqlite_only
@FUZZ
@given(
    event=st.sampled_from(["subscribe", "unsubscribe"]) | st.text(min_size=1, max_size=20),
    args=st.lists(json_values | objects, max_size=2),
)
@example(event="subscribe", args=[{"run_id": 2**64}])
@example(event="subscribe", args=[{"run_id": 1, "since_id": 2**63}])
def test_every_socket_event_gets_an_answer(fuzz_app, fuzz_socket, db_path, event, args):
    # Socket.IO's own, not ours to answer ("*" names the catch-all handler that answers
    # every unknown event: python-socketio dispatches a literal "*" to it without its name)
    if event in ("connect", "disconnect", "message", "*"):
        return
    socketio, sc = fuzz_app.extensions["socketio"], fuzz_socket
    assert sc.is_connected()
    before = dump(db_path)
    started = time.perf_counter()
    answer = sc.emit(event, *args, callback=True)
    assert time.perf_counter() - started < HANG_GUARD
    assert isinstance(answer, dict) and isinstance(answer["ok"], bool)
    if not answer["ok"]:
        assert isinstance(answer["error"]["code"], str) and answer["error"]["message"]
    rooms = socketio.server.manager.rooms.get("/", {})
    assert all(name is None or not name.startswith("run:") or name[4:] in "123" for name in rooms)
    assert dump(db_path) == before


def test_the_fuzz_knows_every_route_of_a_run(fuzz_app):
    """A route added later is fuzzed too: its tail must be listed above."""
    prefix = "/api/runs/<int:run_id>"
    rules = [rule.rule for rule in fuzz_app.url_map.iter_rules() if rule.rule.startswith(prefix)]
    tails = {re.sub(r"<int:\w+>", "1", rule.removeprefix(prefix)) for rule in rules}
    tails = {re.sub(r"<\w+>", "x.png", tail) for tail in tails}  # a file's name
    assert tails <= set(ROUTE_TAILS)


@pytest.mark.sqlite_only
@FUZZ
@given(query=st.dictionaries(st.sampled_from(["runs", "keys", "max_points"]), query_values))
def test_the_comparisons_request_never_gets_a_5xx(fuzz_app, query):
    response = fuzz_app.test_client().get(
        "/api/metrics", query_string=query, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code in (200, 400), response.get_data(as_text=True)[:300]
    if response.status_code == 400:
        check_error_shape(response)
