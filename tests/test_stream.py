"""The streamer: subscribed clients get every point live; a reconnect with since_id loses none."""

from __future__ import annotations

import logging
import time

import flask
import pytest

from lernkurve.web.streamer import ThrottledLog
from support import wait_for


def received_points(sc, run_id: int) -> list[list]:
    points = []
    for message in sc.get_received():
        if message["name"] == "metrics" and message["args"][0]["run_id"] == run_id:
            points.extend(message["args"][0]["points"])
    return points


def all_point_ids(api, app, run_id: int) -> list[int]:
    from sqlalchemy import select

    from lernkurve.store.models import Metric

    with app.extensions["lernkurve"].db.Session() as session:
        query = select(Metric.id).where(Metric.run_id == run_id).order_by(Metric.id)
        return list(session.scalars(query))


def test_subscribed_client_receives_every_point_of_a_run(api, app, socket_client):
    sc = socket_client()
    run_id = api.start("spiral", epochs=3, delay_ms=1.0)["id"]
    assert sc.emit("subscribe", {"run_id": run_id, "since_id": 0}, callback=True) == {"ok": True}
    api.wait_status(run_id, "completed")
    expected = all_point_ids(api, app, run_id)
    got = []
    wait_for(lambda: got.extend(received_points(sc, run_id)) or len(got) >= len(expected))
    assert [p[0] for p in got] == expected
    point_id, key, step, value, wall_time = got[0]
    assert isinstance(key, str) and isinstance(step, int) and isinstance(wall_time, float)


def test_reconnect_with_since_id_loses_no_point(api, app, socket_client):
    run_id = api.start("spiral", epochs=6, delay_ms=2.0)["id"]
    first = socket_client()
    first.emit("subscribe", {"run_id": run_id, "since_id": 0})
    got = []
    wait_for(lambda: got.extend(received_points(first, run_id)) or len(got) > 50)
    first.disconnect()  # the network drops; training goes on meanwhile
    wait_for(lambda: len(all_point_ids(api, app, run_id)) > len(got) + 100)
    second = socket_client()
    second.emit("subscribe", {"run_id": run_id, "since_id": got[-1][0]})
    api.wait_status(run_id, "completed", timeout=60)
    expected = all_point_ids(api, app, run_id)
    wait_for(lambda: got.extend(received_points(second, run_id)) or len(got) >= len(expected))
    assert [p[0] for p in got] == expected  # every id once, in order


def test_rest_history_plus_subscription_from_last_id_is_exact(api, app, socket_client):
    run_id = api.start("spiral", epochs=4, delay_ms=1.0)["id"]
    wait_for(lambda: api.run(run_id)["step"] > 20)
    history = api.get(f"/api/runs/{run_id}/metrics?keys=train_loss").get_json()
    sc = socket_client()
    sc.emit("subscribe", {"run_id": run_id, "since_id": history["last_id"]})
    api.wait_status(run_id, "completed")
    live = []
    total = api.run(run_id)["step"]
    expect_live = total - len(history["series"]["train_loss"])
    wait_for(
        lambda: (
            live.extend(p for p in received_points(sc, run_id) if p[1] == "train_loss")
            or len(live) >= expect_live
        )
    )
    steps = [s for s, _, _ in history["series"]["train_loss"]] + [p[2] for p in live]
    assert steps == list(range(total))


def test_run_changes_are_broadcast(api, socket_client):
    sc = socket_client()
    run_id = api.start("spiral", epochs=1)["id"]
    api.wait_status(run_id, "completed")

    def statuses():
        return [
            m["args"][0]["status"]
            for m in sc.get_received()
            if m["name"] == "run" and m["args"][0]["id"] == run_id
        ]

    seen = []
    wait_for(lambda: seen.extend(statuses()) or "completed" in seen)


def test_a_run_whose_end_commits_late_is_still_broadcast(app, socket_client):
    """A writer held up (load, a locked database) commits a run's end long after its
    ended_at: every client must still hear it, or a page waits on that run for good."""
    from sqlalchemy import update

    from lernkurve.store.models import RunRow, now

    db = app.extensions["lernkurve"].db
    run_id = db.insert_run(name="late end", task="script", status="queued").id
    sc = socket_client()
    statuses = []

    def heard(status: str) -> bool:
        for m in sc.get_received():
            if m["name"] == "run" and m["args"][0]["id"] == run_id:
                statuses.append(m["args"][0]["status"])
        return status in statuses

    wait_for(lambda: heard("queued"))
    with db.Session() as session:
        ended = {"status": "failed", "error": "refused", "ended_at": now() - 60}
        session.execute(update(RunRow).where(RunRow.id == run_id).values(**ended))
        session.commit()
    wait_for(lambda: heard("failed"), 5)


def test_a_run_that_starts_and_ends_while_the_streamer_is_held_up_is_broadcast(app, socket_client):
    """A busy machine can hold the streamer's loop up for longer than its window of recent
    ends: a trial's child run created and refused meanwhile must still reach the page."""
    from sqlalchemy import update

    from lernkurve.store.models import RunRow, now

    state = app.extensions["lernkurve"]
    db, streamer = state.db, state.streamer
    sc = socket_client()
    heard = []

    def heard_of(run_id: int, status: str) -> bool:
        for m in sc.get_received():
            if m["name"] == "run":
                heard.append((m["args"][0]["id"], m["args"][0]["status"]))
        return (run_id, status) in heard

    first = db.insert_run(name="seen", task="script", status="queued").id
    wait_for(lambda: heard_of(first, "queued"))
    with streamer.lock:  # the loop stops at its next tick
        child = db.insert_run(name="refused", task="script", status="queued").id
        with db.Session() as session:
            ended = {"status": "failed", "error": "refused", "ended_at": now()}
            session.execute(update(RunRow).where(RunRow.id == child).values(**ended))
            session.commit()
        time.sleep(1.5)
    wait_for(lambda: heard_of(child, "failed"), 5)


def test_events_reach_subscribers(api, socket_client):
    sc = socket_client()
    run_id = api.start("spiral", epochs=1000, delay_ms=3.0)["id"]
    sc.emit("subscribe", {"run_id": run_id})
    wait_for(lambda: api.run(run_id)["step"] > 2)
    api.patch(f"/api/runs/{run_id}/hparams", json={"lr": 0.05})
    events = []
    wait_for(
        lambda: (
            events.extend(m["args"][0] for m in sc.get_received() if m["name"] == "event") or events
        )
    )
    assert events[0]["kind"] == "hparams" and events[0]["payload"]["changes"]["lr"][1] == 0.05


def test_subscribe_rejects_a_bad_run_id(socket_client):
    sc = socket_client()
    assert sc.emit("subscribe", {"run_id": "one"}, callback=True)["ok"] is False


def test_downsampled_history_keeps_extremes_and_bounds_points(api):
    run_id = api.start("spiral", epochs=20)["id"]
    api.wait_status(run_id, "completed", timeout=60)
    full = api.get(f"/api/runs/{run_id}/metrics?keys=train_loss").get_json()["series"]["train_loss"]
    small = api.get(f"/api/runs/{run_id}/metrics?keys=train_loss&max_points=100").get_json()
    points = small["series"]["train_loss"]
    assert len(full) == 20 * 38 and len(points) <= 100
    values = [v for _, v, _ in full]
    kept = [v for _, v, _ in points]
    assert max(kept) == max(values) and min(kept) == min(values)
    assert [s for s, _, _ in points] == sorted(s for s, _, _ in points)


def test_csv_export_has_every_point(api):
    run_id = api.start("spiral", epochs=2)["id"]
    api.wait_status(run_id, "completed")
    text = api.get(f"/api/runs/{run_id}/export.csv").get_data(as_text=True)
    lines = text.strip().splitlines()
    assert lines[0] == "step,key,value,wall_time"
    assert len(lines) - 1 == 2 * 38 * 2 + 2 * 2  # train_loss+lr every step, val_* per epoch


def test_deleting_a_run_tells_every_client(api, socket_client):
    sc = socket_client()
    run_id = api.start("spiral", epochs=1)["id"]
    api.wait_status(run_id, "completed")
    assert api.delete(f"/api/runs/{run_id}").status_code == 204
    deleted = [m["args"][0] for m in sc.get_received() if m["name"] == "run_deleted"]
    assert deleted == [{"id": run_id}]


ODD_SUBSCRIBES = [
    {"run_id": 2**64},
    {"run_id": 2**63},
    {"run_id": 1, "since_id": 2**63},
    {"run_id": 1, "since_id": -1},
    {"run_id": 1.0},
    {"run_id": "1"},
    {"run_id": -1},
    {"run_id": 0},
    {"run_id": True},
    {"run_id": None},
    {"run_id": {"run_id": 1}},
    {"run_id": [1]},
    {"run_id": 1, "since_id": 1.5},
    {"run_id": 1, "since_id": "0"},
    {"run_id": 1, "extra": 1},
    {"run_id": 999},  # no such run
    {},
    [1],
    "run:1",
    7,
    None,
]


def error_of(answer) -> dict:
    assert answer["ok"] is False
    error = answer["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    return error


@pytest.mark.parametrize("message", ODD_SUBSCRIBES)
def test_every_odd_subscribe_and_unsubscribe_gets_an_error_answer(app, socket_client, message):
    app.extensions["lernkurve"].db.insert_run(name="r", task="spiral", status="stopped")
    sc = socket_client()
    error_of(sc.emit("subscribe", message, callback=True))
    if message != {"run_id": 999}:  # leaving a run's room needs no such run
        error_of(sc.emit("unsubscribe", message, callback=True))
    rooms = app.extensions["socketio"].server.manager.rooms["/"]
    assert not [name for name in rooms if str(name).startswith("run:")]


def test_odd_socket_calls_are_answered_too(socket_client):
    sc = socket_client()
    assert error_of(sc.emit("subscribe", callback=True))["code"] == "invalid_argument"
    assert error_of(sc.emit("subscribe", {"run_id": 1}, 2, callback=True))
    assert error_of(sc.emit("no-such-event", {"x": 1}, callback=True))["code"] == "unknown_event"


def test_a_huge_subscribe_does_not_stop_another_clients_stream(api, app, socket_client):
    watcher, attacker = socket_client(), socket_client()
    run_id = api.start("spiral", epochs=1000, delay_ms=2.0)["id"]
    assert watcher.emit("subscribe", {"run_id": run_id, "since_id": 0}, callback=True)["ok"]
    for message in ({"run_id": 2**64}, {"run_id": run_id, "since_id": 2**63}):
        assert attacker.emit("subscribe", message, callback=True)["ok"] is False
    api.wait_status(run_id, "running")
    watcher.get_received()
    got = []
    wait_for(lambda: got.extend(received_points(watcher, run_id)) or len(got) > 20)
    api.control(run_id, "stop")


def test_a_broken_room_does_not_stop_the_others(api, app, socket_client):
    """A room name no run can have (it got there around the checks) is skipped."""
    watcher = socket_client()
    run_id = api.start("spiral", epochs=1000, delay_ms=2.0)["id"]
    watcher.emit("subscribe", {"run_id": run_id, "since_id": 0})
    server = app.extensions["socketio"].server
    sid = next(iter(server.manager.rooms["/"][None]))
    server.enter_room(sid, f"run:{2**64}", namespace="/")
    api.wait_status(run_id, "running")
    watcher.get_received()
    got = []
    wait_for(lambda: got.extend(received_points(watcher, run_id)) or len(got) > 20)
    api.control(run_id, "stop")


def test_failures_are_logged_at_most_once_per_interval(caplog):
    log = ThrottledLog(logging.getLogger("lernkurve.test"), every=60.0)
    for _ in range(100):
        try:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        except OverflowError:
            log.exception("lernkurve streamer: rows failed")
    assert len(caplog.records) == 1 and caplog.records[0].exc_info


def test_a_client_gone_while_it_subscribes_leaves_the_run_unwatched(app, socket_client):
    """join_room refuses a client that has just disconnected: the run gets no cursor (the
    streamer would poll it for nobody)."""
    state = app.extensions["lernkurve"]
    run_id = state.db.insert_run(name="watched", task="script").id
    sc = socket_client()
    sid = sc.eio_sid and app.extensions["socketio"].server.manager.sid_from_eio_sid(sc.eio_sid, "/")
    sc.disconnect()
    with app.test_request_context("/"):
        flask.request.namespace = "/"  # as in an event handler of the default namespace
        with pytest.raises(ValueError):
            state.streamer.subscribe(sid, run_id, None)
    assert run_id not in state.streamer.cursors


class Emits:
    """A stand-in for SocketIO that keeps what a streamer emits."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def emit(self, message: str, payload: dict, to=None) -> None:
        self.sent.append((message, payload))


def alert_note(db, run_id: int, message: str, **extra) -> None:
    from lernkurve.store.models import Event

    with db.Session() as session:
        payload = {"message": message, **extra}
        session.add(Event(run_id=run_id, step=1, kind="note", payload=payload))
        session.commit()


def test_a_scripts_alerts_go_out_once_and_old_ones_not_at_all(app):
    """wandb.alert() is a note event by "alert": each goes out once; alerts from before the
    app started are not news; other notes are never alerts."""
    from lernkurve.web.streamer import Streamer

    db = app.extensions["lernkurve"].db
    run_id = db.insert_run(name="alerting", task="script", status="running").id
    alert_note(db, run_id, "old", by="alert", title="old", text="before the app started")
    streamer = Streamer(Emits(), db)  # not started: each look is called here
    streamer._emit_alerts()  # the first look
    alert_note(db, run_id, "loss is nan", by="alert", title="diverged", level="ERROR")
    alert_note(db, run_id, "a plain note")
    for _ in range(3):
        streamer._emit_alerts()
    sent = [(m, p["run_id"], p["payload"]["title"]) for m, p in streamer.socketio.sent]
    assert sent == [("alert", run_id, "diverged")]


def test_every_client_hears_an_alert_watching_its_run_or_not(app, socket_client):
    db = app.extensions["lernkurve"].db
    run_id = db.insert_run(name="alerting", task="script", status="running").id
    streamer = app.extensions["lernkurve"].streamer
    wait_for(lambda: streamer._alerts_after is not None)  # the app has looked once
    sc = socket_client()  # subscribed to nothing
    alert_note(db, run_id, "done", by="alert", title="finished", text="done", level="INFO")
    heard = wait_for(lambda: [m["args"][0] for m in sc.get_received() if m["name"] == "alert"], 5)
    assert [(a["run_id"], a["payload"]["text"]) for a in heard] == [(run_id, "done")]
