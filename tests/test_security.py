"""Token on every call and socket, loopback Host only, no cross-site mutations, headers."""

from __future__ import annotations

import pytest

from lernkurve.web.security import download_key
from support import TOKEN


def test_api_without_token_is_401(client):
    response = client.get("/api/runs")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_api_with_wrong_token_is_401(client):
    response = client.get("/api/runs", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


def test_foreign_host_is_403_even_with_the_token(client):
    headers = {"Authorization": f"Bearer {TOKEN}", "Host": "evil.example:5000"}
    assert client.get("/api/runs", headers=headers).status_code == 403
    assert client.get("/", headers={"Host": "rebound.example"}).status_code == 403


def test_loopback_hosts_are_accepted(client):
    for host in ("127.0.0.1:5000", "localhost", "localhost:1", "[::1]:8080", "[::1]", "127.0.0.2"):
        headers = {"Authorization": f"Bearer {TOKEN}", "Host": host}
        assert client.get("/api/health", headers=headers).status_code == 200, host


def test_flask_trusted_hosts_still_cannot_trust_ipv6_loopback():
    """Why SecurityMiddleware checks the Host itself: once this fails, TRUSTED_HOSTS can do it."""
    from werkzeug.sansio.utils import host_is_trusted

    assert host_is_trusted("localhost:8080", ["localhost"])
    assert not host_is_trusted("[::1]:8080", ["[::1]"])


def test_the_page_loads_without_a_cookie_and_never_sets_one(client):
    """The token lives in the page's sessionStorage: a cookie would reach every local port."""
    for path in ("/", f"/?token={TOKEN}"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Set-Cookie" not in response.headers
        assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/api/runs").status_code == 401  # the page alone grants nothing


def test_a_wrong_token_in_the_address_shows_the_locked_page(client):
    response = client.get("/?token=guess")
    assert response.status_code == 401 and "Set-Cookie" not in response.headers


def test_an_old_token_cookie_is_deleted_and_no_longer_authenticates(client):
    client.set_cookie("lernkurve_token_80", TOKEN)
    assert client.get("/api/runs").status_code == 401
    response = client.get("/")
    assert response.headers["Set-Cookie"].startswith("lernkurve_token_80=;")


def test_the_download_key_opens_only_the_csv_export(api, client, app):
    run_id = app.extensions["lernkurve"].db.insert_run(name="r", task="spiral", status="stopped").id
    key = download_key(TOKEN)
    assert client.get(f"/api/runs/{run_id}/export.csv?key={key}").status_code == 200
    assert client.get(f"/api/runs/{run_id}/export.csv?key=nope").status_code == 401
    assert client.get(f"/api/runs/{run_id}?key={key}").status_code == 401
    assert client.delete(f"/api/runs/{run_id}/export.csv?key={key}").status_code == 401


def test_the_download_key_opens_a_runs_media_files_and_nothing_beside_them(client, app):
    from lernkurve.store.media import run_media_dir

    db = app.extensions["lernkurve"].db
    run_id = db.insert_run(name="r", task="script", status="stopped").id
    folder = run_media_dir(db, run_id)
    folder.mkdir(parents=True)
    (folder / "samples-3.png").write_bytes(b"\x89PNG fake")
    (folder.parent / "other.png").write_bytes(b"\x89PNG other")
    key, bearer = download_key(TOKEN), {"Authorization": f"Bearer {TOKEN}"}
    answer = client.get(f"/api/runs/{run_id}/media/samples-3.png?key={key}")
    assert answer.status_code == 200 and answer.mimetype == "image/png"
    assert answer.data == b"\x89PNG fake"
    answer.close()  # a file is streamed from an open file
    assert client.get(f"/api/runs/{run_id}/media/samples-3.png").status_code == 401
    for name in ("..%2Fother.png", "samples-3.txt", ".hidden.png", "missing.png"):
        assert client.get(f"/api/runs/{run_id}/media/{name}", headers=bearer).status_code == 404
    other = client.get(f"/api/runs/{run_id + 1}/media/samples-3.png", headers=bearer)
    assert other.status_code == 404


def test_cross_origin_mutation_is_refused(client):
    headers = {"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"}
    response = client.post("/api/runs", json={"task": "spiral"}, headers=headers)
    assert response.status_code == 403


@pytest.mark.parametrize(
    "path", ["/api/health", "/", "/static/js/main.js", "/socket.io/?EIO=4&transport=polling"]
)
def test_security_headers_on_every_response(client, path):
    response = client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    response.close()  # a static file is streamed from an open file
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # Framed only by pages on this machine (a notebook's output cell), nothing wider.
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors http://127.0.0.1:* http://localhost:*;" in csp
    assert "X-Frame-Options" not in response.headers  # it would forbid every frame
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_socket_io_refuses_a_foreign_host(client):
    response = client.get("/socket.io/?EIO=4&transport=polling", headers={"Host": "evil.example"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_socket_needs_the_token(socket_client):
    assert not socket_client(auth={"token": "nope"}).is_connected()
    assert not socket_client(auth=None).is_connected()
    assert socket_client().is_connected()


def test_socket_from_a_foreign_origin_is_refused(socket_client):
    assert not socket_client(headers={"Origin": "http://evil.example"}).is_connected()
