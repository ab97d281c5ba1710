"""Fan-out to many clients: what a busy stream must not cost (issue 9; bench_fanout.py).

A client that reads slower than the stream arrives keeps its connection, websockets are not
compressed per client, and a message to a room is encoded once however many clients it has.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from lernkurve.web.server import ServerThread
from support import TOKEN, wait_for

websocket = pytest.importorskip("websocket")  # websocket-client, in requirements-dev.txt

ENGINEIO_DEFAULT_PING_TIMEOUT = 20.0  # what dropped every benchmark client 45 s in


def all_point_ids(app, run_id: int) -> list[int]:
    from sqlalchemy import select

    from lernkurve.store.models import Metric

    with app.extensions["lernkurve"].db.Session() as session:
        query = select(Metric.id).where(Metric.run_id == run_id).order_by(Metric.id)
        return list(session.scalars(query))


class RawSocket:
    """A Socket.IO client spoken by hand over one websocket: it reads only when told to, as a
    starved process or a busy page does."""

    def __init__(self, port: int) -> None:
        url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(url, timeout=10)
        self.handshake = json.loads(self.ws.recv()[1:])  # 0{"sid", "pingInterval", ...}
        self.ws.send("40" + json.dumps({"token": TOKEN}))
        assert self.ws.recv().startswith("40{"), "the namespace refused the connection"
        self.points: list[list] = []
        self.answers: dict[int, object] = {}
        self.closed = False

    def call(self, ack: int, event: str, data: dict) -> None:
        self.ws.send(f"42{ack}" + json.dumps([event, data]))

    def read(self, until, timeout: float = 20.0) -> None:
        """Read (answering pings) until until() holds, the server closes, or time runs out."""
        deadline = time.monotonic() + timeout
        while not until() and not self.closed and time.monotonic() < deadline:
            try:
                text = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except websocket.WebSocketConnectionClosedException:
                self.closed = True
                break
            if text == "2":
                self.ws.send("3")
            elif text == "1" or text.startswith("41"):  # Engine.IO close, namespace disconnect
                self.closed = True
            elif text.startswith('42["metrics",'):
                self.points += json.loads(text[2:])[1]["points"]
            elif text[:2] == "43":
                ack = int(text[2 : text.index("[")])
                self.answers[ack] = json.loads(text[text.index("[") :])[0]

    def close(self) -> None:
        self.ws.close()


def test_a_client_that_answers_a_ping_late_keeps_its_connection(app, api):
    """A busy stream queues a ping behind its messages, and a slow reader sees it late: with
    Engine.IO's default 20 s the server closed such a connection 25 + 20 s after it began."""
    eio = app.extensions["socketio"].server.eio
    eio.ping_interval = 1.0  # the first ping goes out at once (the late answer is what counts)
    server = ServerThread(app, "127.0.0.1", 0).start()
    client = RawSocket(server.port)
    try:
        assert client.handshake["pingTimeout"] > 1000 * (ENGINEIO_DEFAULT_PING_TIMEOUT + 5)
        run_id = api.start("spiral", epochs=1000, delay_ms=2.0)["id"]  # trains all along
        client.call(1, "subscribe", {"run_id": run_id, "since_id": 0})
        # Read nothing for longer than the default timeout while the run streams points and
        # status changes (each send makes the server check the ping's age).
        time.sleep(ENGINEIO_DEFAULT_PING_TIMEOUT + eio.ping_interval + 2)
        client.read(until=lambda: 1 in client.answers and len(client.points) > 0)
        assert client.answers.get(1) == {"ok": True}
        assert not client.closed, "the server closed the slow client's connection"
        assert api.control(run_id, "stop").status_code == 202
        api.wait_status(run_id, "stopped", timeout=30)
        expected = all_point_ids(app, run_id)
        client.read(until=lambda: len(client.points) >= len(expected))
        assert not client.closed
        assert [point[0] for point in client.points] == expected  # every point, once, in order
    finally:
        client.close()
        server.stop()


def test_a_websocket_outlives_the_request_timeout(db_path, data_dir):
    """A silent HTTP request is closed after REQUEST_TIMEOUT; a websocket whose client is only
    slow to answer a ping must not be (Engine.IO's own ping timeout judges it)."""
    from lernkurve.launch import build_app
    from lernkurve.web.app import start_app

    config = {"DATABASE": str(db_path), "TOKEN": TOKEN, "START_WORKER": False}
    app = start_app(build_app({**config, "REQUEST_TIMEOUT": 1.0}))
    server = ServerThread(app, "127.0.0.1", 0).start()
    client = RawSocket(server.port)
    try:
        time.sleep(3.0)  # silent for three request timeouts (no ping comes within 25 s)
        client.call(1, "subscribe", {"run_id": 1})
        client.read(until=lambda: 1 in client.answers, timeout=5)
        assert not client.closed, "the websocket was closed as a timed-out request"
        assert client.answers[1]["error"]["code"] == "not_found"
    finally:
        client.close()
        server.stop()
        app.extensions["lernkurve"].shutdown()


def test_websocket_compression_is_not_negotiated(app):
    """A browser offers permessage-deflate on every websocket; accepted, each message would be
    deflated once per client (14x the cost of a send) to save bytes on loopback."""
    server = ServerThread(app, "127.0.0.1", 0).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                b"Host: 127.0.0.1:%d\r\n"
                b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
                % server.port
            )
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                assert chunk, f"the server closed the connection: {head!r}"
                head += chunk
        status, *headers = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
        assert " 101 " in status, status
        assert not [h for h in headers if h.lower().startswith("sec-websocket-extensions")]
    finally:
        server.stop()


def test_a_message_to_a_room_is_encoded_once_for_all_its_clients(api, app, socket_client):
    """The streamer emits to a run's room, and the room's one encoded packet goes to each of
    its clients (an emit per client would encode the JSON once per client)."""
    clients = [socket_client() for _ in range(5)]
    server = app.extensions["socketio"].server
    send = server._send_eio_packet  # the test clients' own stand-in for the websocket
    packets: dict[int, list] = {}  # id of an encoded packet -> [the packet, clients it reached]

    def counting(eio_sid, eio_packet):
        if isinstance(eio_packet.data, str) and eio_packet.data.startswith('2["metrics"'):
            packets.setdefault(id(eio_packet), [eio_packet, 0])[1] += 1
        return send(eio_sid, eio_packet)

    run_id = api.start("spiral", epochs=3, delay_ms=1.0)["id"]
    server._send_eio_packet = counting
    try:
        for sc in clients:  # live points only: a replay (since_id) goes to one client alone
            assert sc.emit("subscribe", {"run_id": run_id}, callback=True) == {"ok": True}
        api.wait_status(run_id, "completed")
        last = all_point_ids(app, run_id)[-1]
        got = [[] for _ in clients]  # point ids each client received

        def take() -> bool:
            for sc, ids in zip(clients, got, strict=True):
                for message in sc.get_received():
                    if message["name"] == "metrics":
                        ids += [point[0] for point in message["args"][0]["points"]]
            return all(ids and ids[-1] == last for ids in got)

        wait_for(take)
    finally:
        server._send_eio_packet = send
    reached = sorted(count for _, count in packets.values())
    assert reached.count(5) >= 3  # the messages sent once all five had joined ...
    assert set(reached) <= {1, 2, 3, 4, 5}  # ... and none encoded more than once for its room
    assert all(ids == sorted(set(ids)) for ids in got)
