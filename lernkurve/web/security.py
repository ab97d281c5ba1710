"""Security of a local server: token, loopback Host, size cap, headers (see DESIGN.md).

The token travels only as ``Authorization: Bearer`` (REST) and in the socket's auth, never
as a cookie: browsers send a 127.0.0.1 cookie to every port on 127.0.0.1, so any other local
server would receive it. The page keeps the token in sessionStorage, which is per origin
(scheme, host and port).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from urllib.parse import urlsplit

from flask import Flask, Request, abort, request

from lernkurve.store.media import FILE_NAME

# Only a page on this machine may frame the dashboard: a notebook's output cell (run.show()).
# No X-Frame-Options: it cannot name several origins, and frame-ancestors supersedes it.
FRAME_ANCESTORS = "http://127.0.0.1:* http://localhost:*"
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
    f"frame-ancestors {FRAME_ANCESTORS}; base-uri 'self'; form-action 'self'"
)
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", CSP),
)
# Older versions kept the token in this cookie; the page deletes any it still finds.
OLD_COOKIE_PREFIX = "lernkurve_token"
# A download link cannot carry a header: CSV export accepts this key, derived from the token.
DOWNLOAD_KEY_LABEL = b"lernkurve-download"
# The links it opens: a run's CSV export and its media files (an <img> cannot send a header).
DOWNLOAD_PATH = re.compile(rf"/api/runs/\d+/(export\.csv|media/{FILE_NAME})")


def is_loopback_name(name: str | None) -> bool:
    """True for localhost and any loopback address (127.0.0.0/8, ::1), bracketed or not."""
    if not name:
        return False
    name = name.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_is_loopback(host: str) -> bool:
    """True for a loopback Host header (any port): the DNS-rebinding guard."""
    try:
        name = urlsplit("//" + host).hostname
    except ValueError:
        return False
    return is_loopback_name(name)


def presented_token(req: Request, auth: dict | None = None) -> str | None:
    """The token a request carries: the socket's auth or the Bearer header."""
    if isinstance(auth, dict) and isinstance(auth.get("token"), str):
        return auth["token"]
    header = req.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    return None


def token_ok(app: Flask, token: str | None) -> bool:
    return bool(token) and secrets.compare_digest(token.encode(), app.config["TOKEN"].encode())


def download_key(token: str) -> str:
    """HMAC-SHA256(token, label) in hex: the page computes the same with SubtleCrypto."""
    return hmac.new(token.encode(), DOWNLOAD_KEY_LABEL, hashlib.sha256).hexdigest()


def _download_key_ok(app: Flask, req: Request) -> bool:
    key = req.args.get("key")
    if req.method != "GET" or not key or not DOWNLOAD_PATH.fullmatch(req.path):
        return False
    return secrets.compare_digest(key.encode(), download_key(app.config["TOKEN"]).encode())


def authorized(app: Flask, req: Request) -> bool:
    return token_ok(app, presented_token(req)) or _download_key_ok(app, req)


def init_security(app: Flask) -> None:
    """Register the checks every API request passes (see also SecurityMiddleware)."""

    @app.before_request
    def guard():
        if not request.path.startswith("/api/"):
            return
        cap = body_cap(app, request)
        request.max_content_length = cap  # what get_json reads: the same cap
        if request.content_length is not None and request.content_length > cap:
            abort(413, f"request body over {cap} bytes")
        if not authorized(app, request):
            abort(401, "missing or wrong token")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            _refuse_cross_site()
            _refuse_long_stream(cap)


def body_cap(app: Flask, req: Request) -> int:
    """The most bytes a request body may have: a new run's may carry a recipe (up to 10,000
    changes), every other body is small."""
    if req.method == "POST" and req.path.rstrip("/") == "/api/runs":
        return app.config["MAX_RECIPE_LENGTH"]
    return app.config["MAX_CONTENT_LENGTH"]


def _refuse_long_stream(cap: int) -> None:
    """A chunked body has no Content-Length: werkzeug stops reading at the cap, silently."""
    if request.content_length is None and len(request.get_data(cache=True)) >= cap:
        abort(413, f"request body over {cap - 1} bytes")


class SecurityMiddleware:
    """Around the whole WSGI app, Socket.IO included: loopback Host only, headers on all.

    Not Flask's TRUSTED_HOSTS: Werkzeug (3.1) cuts each trusted name at its first colon, so
    ``[::1]`` can never match; it has no 127.0.0.0/8; and Engine.IO answers /socket.io/
    before Flask sees the request.
    """

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if not host_is_loopback(environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")):
            return self._forbidden(start_response)

        def with_headers(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            extra = [(n, v) for n, v in SECURITY_HEADERS if n.lower() not in present]
            return start_response(status, [*headers, *extra], exc_info)

        return self.wsgi_app(environ, with_headers)

    @staticmethod
    def _forbidden(start_response):
        message = "this server only answers to a loopback host name"
        body = json.dumps({"error": {"code": "forbidden", "message": message}}).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        start_response("403 FORBIDDEN", [*headers, *SECURITY_HEADERS])
        return [body]


def same_origin(req: Request) -> bool:
    """No Origin (not a browser page) or exactly this app's own origin: nothing else."""
    origin = req.headers.get("Origin")
    return not origin or origin == req.host_url.rstrip("/")


def _refuse_cross_site() -> None:
    """Mutations from another site's page are refused."""
    site = request.headers.get("Sec-Fetch-Site")
    if site and site not in ("same-origin", "none"):
        abort(403, "cross-site request refused")
    if not same_origin(request):
        abort(403, "cross-origin request refused")
