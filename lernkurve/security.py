"""Security of a local server: token, loopback Host, size cap, headers (see DESIGN.md)."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Flask, Request, abort, request

COOKIE = "lernkurve_token"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
PUBLIC_PREFIXES = ("/static/",)


def host_is_loopback(host: str) -> bool:
    """True for a loopback Host header (any port): the DNS-rebinding guard."""
    try:
        name = urlsplit("//" + host).hostname
    except ValueError:
        return False
    return name in LOOPBACK_HOSTS


def cookie_name(req: Request) -> str:
    """Cookies are not kept apart by port: each instance (port) gets its own name."""
    try:
        port = urlsplit("//" + req.host).port
    except ValueError:
        port = None
    return f"{COOKIE}_{port or 80}"


def presented_token(req: Request, auth: dict | None = None) -> str | None:
    """The token a request carries: socket auth, Bearer header or the page's cookie."""
    if isinstance(auth, dict) and isinstance(auth.get("token"), str):
        return auth["token"]
    header = req.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    return req.cookies.get(cookie_name(req))


def token_ok(app: Flask, token: str | None) -> bool:
    return bool(token) and secrets.compare_digest(token.encode(), app.config["TOKEN"].encode())


def init_security(app: Flask) -> None:
    """Register the checks every request passes and the headers every response carries."""

    @app.before_request
    def guard():
        if not host_is_loopback(request.host):
            abort(403, "this server only answers to a loopback host name")
        if request.path.startswith("/api/"):
            cap = app.config["MAX_CONTENT_LENGTH"]
            if request.content_length is not None and request.content_length > cap:
                abort(413, f"request body over {cap} bytes")
            if not token_ok(app, presented_token(request)):
                abort(401, "missing or wrong token")
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                _refuse_cross_site()

    @app.after_request
    def headers(response):
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Content-Security-Policy"] = CSP
        return response


def same_origin(req: Request) -> bool:
    """No Origin (not a browser page) or exactly this app's own origin: nothing else."""
    origin = req.headers.get("Origin")
    return not origin or origin == req.host_url.rstrip("/")


def _refuse_cross_site() -> None:
    """Mutations from another site's page are refused even if a cookie rides along."""
    site = request.headers.get("Sec-Fetch-Site")
    if site and site not in ("same-origin", "none"):
        abort(403, "cross-site request refused")
    if not same_origin(request):
        abort(403, "cross-origin request refused")
