"""GET/PUT /api/layout: the chart panels' layout, kept in the database for every window on it."""

from __future__ import annotations

import pytest

from lernkurve.store.database import Database
from lernkurve.store.layout import load_layout
from support import TOKEN, Api

pytestmark = pytest.mark.postgres

LAYOUT = {"order": ["loss", "lr", "accuracy"], "pinned": ["val MB"], "collapsed": ["sys"]}


def test_a_saved_layout_comes_back_and_is_in_the_database(api, db_path):
    assert api.get("/api/layout").get_json() == {"order": [], "pinned": [], "collapsed": []}

    answer = api.request("PUT", "/api/layout", json=LAYOUT)
    assert answer.status_code == 200 and answer.get_json() == LAYOUT
    assert api.get("/api/layout").get_json() == LAYOUT
    assert load_layout(Database(db_path)) == LAYOUT

    # A second save replaces the first; a field left out is an empty list.
    api.request("PUT", "/api/layout", json={"pinned": ["loss"]})
    assert api.get("/api/layout").get_json() == {"order": [], "pinned": ["loss"], "collapsed": []}


def test_a_second_app_on_the_same_database_sees_the_layout(api, db_path, data_dir):
    from lernkurve.launch import build_app

    api.request("PUT", "/api/layout", json=LAYOUT)
    other = build_app({"DATABASE": str(db_path), "TOKEN": TOKEN, "DATA_DIR": str(data_dir)})
    try:
        assert Api(other).get("/api/layout").get_json() == LAYOUT
    finally:
        other.extensions["lernkurve"].shutdown()


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"order": "loss"}, "order"),
        ({"pinned": [1]}, "pinned"),
        ({"collapsed": [""]}, "collapsed"),
        ({"order": ["x" * 101]}, "order"),
        ({"order": [f"p{i}" for i in range(201)]}, "order"),
        ({"pinned": [f"p{i}" for i in range(51)]}, "pinned"),
        ({"pinned": ["loss", "loss"]}, "pinned"),
        ({"widths": []}, "widths"),
    ],
)
def test_a_layout_of_another_shape_is_refused_and_nothing_changes(api, body, key):
    api.request("PUT", "/api/layout", json=LAYOUT)
    answer = api.request("PUT", "/api/layout", json=body)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "invalid_layout" and error["key"] == key
    assert api.get("/api/layout").get_json() == LAYOUT


def test_bodies_that_are_not_a_layout_are_refused(api):
    for text in ("[]", "{", "null"):
        answer = api.request("PUT", "/api/layout", data=text, content_type="application/json")
        assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "invalid_json"
    big = {"order": ["x" * 100] * 700}  # over the 64 KiB every request body is held to
    assert api.request("PUT", "/api/layout", json=big).status_code == 413


def test_the_layout_needs_the_token_and_the_apps_own_origin(client):
    assert client.get("/api/layout").status_code == 401
    assert client.put("/api/layout", json=LAYOUT).status_code == 401
    foreign = {"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"}
    assert client.put("/api/layout", json=LAYOUT, headers=foreign).status_code == 403
