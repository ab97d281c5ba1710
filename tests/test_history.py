"""History for charts: long runs come downsampled from buckets kept as points arrive."""

from __future__ import annotations

import math

import pytest

from lernkurve.tracking import client

pytestmark = pytest.mark.postgres


def log_wave(db_path, steps: int) -> int:
    run = client.init(config={}, db=str(db_path))
    for step in range(steps):
        run.log(step, loss=math.sin(step / 97.0) + step / steps, acc=step / steps)
    run.log(steps // 3, spike=0.0)
    run.finish()
    return run.id


def test_a_long_history_keeps_its_extremes_at_their_steps(api, db_path):
    run_id = log_wave(db_path, 20_000)
    full = api.get(f"/api/runs/{run_id}/metrics?keys=loss").get_json()["series"]["loss"]
    small = api.get(f"/api/runs/{run_id}/metrics?keys=loss&max_points=200").get_json()
    points = small["series"]["loss"]
    assert len(full) == 20_000 and 50 < len(points) <= 200
    lowest, highest = min(full, key=lambda p: p[1]), max(full, key=lambda p: p[1])
    assert lowest[:2] in [p[:2] for p in points] and highest[:2] in [p[:2] for p in points]
    steps = [p[0] for p in points]
    assert steps == sorted(steps) and steps[0] < 100 and steps[-1] > 19_900
    assert set(small["series"]) == {"loss"}


def test_keys_default_to_every_key_of_the_run(api, db_path):
    run_id = log_wave(db_path, 500)
    series = api.get(f"/api/runs/{run_id}/metrics?max_points=100").get_json()["series"]
    assert set(series) == {"loss", "acc", "spike"}
    assert series["spike"] == [[500 // 3, 0.0, series["spike"][0][2]]]


def test_since_id_returns_exactly_the_newer_points(api, db_path):
    first = log_wave(db_path, 300)
    last_id = api.get(f"/api/runs/{first}/metrics").get_json()["last_id"]
    second = log_wave(db_path, 50)
    older = api.get(f"/api/runs/{first}/metrics?since_id={last_id}").get_json()["series"]
    assert all(points == [] for points in older.values())
    newer = api.get(f"/api/runs/{second}/metrics?since_id={last_id}").get_json()["series"]
    assert len(newer["loss"]) == 50


def test_a_comparison_reads_each_runs_first_logged_key_in_one_request(api, db_path):
    script = log_wave(db_path, 300)  # loss, acc, spike
    other = client.init(config={}, db=str(db_path))
    for step in range(50):
        other.log(step, **{"train/loss": 1.0 / (step + 1)})
    other.finish()
    answer = api.get(
        f"/api/metrics?runs={other.id},{script},99999&keys=loss,train/loss&max_points=100"
    ).get_json()["runs"]
    assert list(answer) == [str(other.id), str(script)]  # in the order asked, 99999 left out
    assert answer[str(script)]["key"] == "loss" and len(answer[str(script)]["points"]) <= 100
    assert sorted(answer[str(script)]["keys"]) == ["acc", "loss", "spike"]
    mapped = answer[str(other.id)]
    assert mapped["key"] == "train/loss" and mapped["keys"] == ["train/loss"]
    assert [p[0] for p in mapped["points"]] == list(range(50)) and mapped["points"][0][1] == 1.0
    single = api.get(f"/api/runs/{other.id}/metrics").get_json()
    assert mapped["last_id"] == single["last_id"]


@pytest.mark.parametrize(
    "query",
    [
        "runs=1",
        "keys=loss",
        "runs=a&keys=loss",
        "runs=0&keys=loss",
        "runs=" + ",".join(["1"] * 201),
    ],
)
def test_a_comparison_request_names_runs_and_keys(api, query):
    assert api.get(f"/api/metrics?{query}").status_code == 400


def test_since_step_returns_the_points_from_that_step_on(api, db_path):
    run_id = log_wave(db_path, 20_000)
    url = f"/api/runs/{run_id}/metrics?since_step=19990"
    series = api.get(url).get_json()["series"]
    assert [p[0] for p in series["loss"]] == list(range(19_990, 20_000))
    assert series["spike"] == []  # logged at step 6666 only
    thinned = api.get(f"{url}&keys=acc&max_points=4").get_json()["series"]["acc"]
    assert 2 <= len(thinned) <= 4 and all(p[0] >= 19_990 for p in thinned)
