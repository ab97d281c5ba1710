"""Token on every call and socket, loopback Host only, no cross-site mutations, headers."""

from __future__ import annotations

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
    for host in ("127.0.0.1:5000", "localhost", "[::1]:8080"):
        headers = {"Authorization": f"Bearer {TOKEN}", "Host": host}
        assert client.get("/api/health", headers=headers).status_code == 200, host


def test_page_link_with_token_sets_cookie_that_authenticates(client):
    assert client.get("/").status_code == 401
    response = client.get(f"/?token={TOKEN}")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert response.headers["Set-Cookie"].startswith("lernkurve_token_80=")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/api/runs").status_code == 200  # the test client keeps the cookie
    assert client.get("/").status_code == 200


def test_each_instance_port_has_its_own_cookie(client):
    response = client.get(f"/?token={TOKEN}", headers={"Host": "127.0.0.1:5001"})
    assert response.headers["Set-Cookie"].startswith("lernkurve_token_5001=")
    assert client.get("/api/runs", headers={"Host": "127.0.0.1:5001"}).status_code == 200
    assert client.get("/api/runs", headers={"Host": "127.0.0.1:5002"}).status_code == 401


def test_wrong_page_token_sets_no_cookie(client):
    response = client.get("/?token=guess")
    assert response.status_code == 401 and "Set-Cookie" not in response.headers


def test_cross_origin_mutation_is_refused(client):
    headers = {"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"}
    response = client.post("/api/runs", json={"task": "spiral"}, headers=headers)
    assert response.status_code == 403


def test_security_headers(client):
    response = client.get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_socket_needs_the_token(socket_client):
    assert not socket_client(auth={"token": "nope"}).is_connected()
    assert not socket_client(auth=None).is_connected()
    assert socket_client().is_connected()


def test_socket_from_a_foreign_origin_is_refused(socket_client):
    assert not socket_client(headers={"Origin": "http://evil.example"}).is_connected()
