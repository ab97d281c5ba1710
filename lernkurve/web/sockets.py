"""Socket.IO events: connect (token, Host, Origin), subscribe and unsubscribe.

Every event gets an answer: ``{"ok": true}`` or ``{"ok": false, "error": {"code", "message"}}``;
a message outside the contract changes nothing, and nothing a client sends can raise in the
server (a raised handler would leave the client without an answer).
"""

from __future__ import annotations

import functools
import logging

from flask import Flask, request
from flask_socketio import SocketIO

from lernkurve.store.models import RunRow
from lernkurve.web.security import host_is_loopback, presented_token, same_origin, token_ok
from lernkurve.web.streamer import Streamer, ThrottledLog

log = ThrottledLog(logging.getLogger(__name__))
disconnects = ThrottledLog(logging.getLogger(__name__))

MAX_ID = 2**63 - 1  # SQLite integers are 64-bit signed

# Engine.IO pings every PING_INTERVAL seconds and closes a connection whose answer has not come
# PING_TIMEOUT seconds after the ping was queued. Its default of 20 s dropped every client of a
# busy stream: a ping waits behind all the messages queued before it, and a client that reads
# slower than the stream arrives (a starved process; a page busy drawing) answers it late, so
# all 50 benchmark clients were closed 25 + 20 s after they connected. A dead connection is
# still found within PING_INTERVAL + PING_TIMEOUT, and a reconnect resumes from its last id.
PING_INTERVAL = 25.0
PING_TIMEOUT = 60.0
# Reasons a connection ends that are worth a log line ("transport close" is a closed tab).
UNEXPECTED_ENDS = {"ping timeout", "transport error"}


class SocketError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    def answer(self) -> dict:
        return {"ok": False, "error": {"code": self.code, "message": self.message}}


def answered(handler):
    """Call handler(data) with the one argument an event may carry; always return an answer."""

    @functools.wraps(handler)
    def wrapper(*args):
        try:
            if len(args) > 1:
                raise SocketError("invalid_argument", "send one object, not several arguments")
            return handler(args[0] if args else None)
        except SocketError as err:
            return err.answer()
        except Exception:  # noqa: BLE001 - the client gets an answer, the log the details
            log.exception(f"lernkurve: socket event {handler.__name__} failed")
            return SocketError("internal", "the server could not handle this message").answer()

    return wrapper


def id_field(data: dict, name: str, *, low: int, required: bool) -> int | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= MAX_ID:
        raise SocketError("invalid_argument", f"{name} must be a whole number, {low} to 2**63-1")
    return value


def subscription(data, fields: set[str]) -> dict:
    """The message as {run_id, since_id?}, checked: an object with known fields only."""
    if not isinstance(data, dict):
        raise SocketError("invalid_argument", 'send an object such as {"run_id": 1}')
    unknown = set(data) - fields
    if unknown:
        raise SocketError("invalid_argument", f"unknown field {sorted(map(str, unknown))[0]!r}")
    return {
        "run_id": id_field(data, "run_id", low=1, required=True),
        "since_id": id_field(data, "since_id", low=0, required=False),
    }


def configure_engineio(socketio: SocketIO) -> None:
    """Ping settings that tolerate a busy stream (see PING_TIMEOUT); they go out to each client
    in its handshake."""
    eio = socketio.server.eio
    eio.ping_interval, eio.ping_timeout = PING_INTERVAL, PING_TIMEOUT


def register_socket_events(socketio: SocketIO, app: Flask, streamer: Streamer) -> None:
    configure_engineio(socketio)

    @socketio.on("connect")
    def connect(auth=None):
        """Refuse (False) a socket without the token, from a foreign page or Host."""
        return (
            host_is_loopback(request.host)
            and same_origin(request)
            and token_ok(app, presented_token(request, auth))
        )

    @socketio.on("disconnect")
    def disconnect(reason=None):
        """Say why a connection ended when the client did not end it (rate-limited)."""
        if reason in UNEXPECTED_ENDS:
            disconnects.warning(f"lernkurve: a socket connection ended: {reason}")

    @socketio.on("subscribe")
    @answered
    def subscribe(data):
        wanted = subscription(data, {"run_id", "since_id"})
        with streamer.db.Session() as session:
            if session.get(RunRow, wanted["run_id"]) is None:
                raise SocketError("not_found", f"no run with id {wanted['run_id']}")
        try:
            streamer.subscribe(request.sid, wanted["run_id"], wanted["since_id"])
        except ValueError as gone:  # join_room: the client left while it subscribed
            raise SocketError("gone", str(gone)) from gone
        return {"ok": True}

    @socketio.on("unsubscribe")
    @answered
    def unsubscribe(data):
        streamer.unsubscribe(request.sid, subscription(data, {"run_id"})["run_id"])
        return {"ok": True}

    @socketio.on("*")
    def unknown_event(event, *_args):
        return SocketError("unknown_event", f"no event {str(event)[:100]!r}").answer()
