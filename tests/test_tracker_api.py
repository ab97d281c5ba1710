"""Tags, notes, names and each run's best/last value, through the REST API."""

from __future__ import annotations

from lernkurve.tracking import client


def script_run(db_path, name: str, losses: list[float]) -> int:
    run = client.init(name=name, config={}, db=db_path, system_metrics=False)
    for step, loss in enumerate(losses):
        run.log(step, loss=loss)
    run.finish()
    return run.id


def test_tags_and_notes_round_trip_and_tags_filter_the_list(api, db_path):
    first = script_run(db_path, "a", [1.0])
    second = script_run(db_path, "b", [1.0])
    answer = api.patch(f"/api/runs/{first}", json={"tags": ["baseline", " gpt ", "gpt"]})
    assert answer.status_code == 200 and answer.get_json()["tags"] == ["baseline", "gpt"]
    notes = "# Why\n\nlr **too high** <script>"
    assert api.patch(f"/api/runs/{first}", json={"notes": notes}).get_json()["notes"] == notes
    assert api.run(first)["notes"] == notes and api.run(second)["tags"] == []
    listed = api.get("/api/runs?tag=gpt").get_json()["runs"]
    assert [run["id"] for run in listed] == [first]


def test_bad_annotations_are_refused_and_change_nothing(api, db_path):
    run_id = script_run(db_path, "a", [1.0])
    for body in ({"tags": "gpt"}, {"tags": [""]}, {"tags": ["x" * 41]}, {"notes": 3}, {}, {"x": 1}):
        answer = api.patch(f"/api/runs/{run_id}", json=body)
        assert answer.status_code == 400, body
        assert set(answer.get_json()["error"]) >= {"code", "message"}
    assert api.run(run_id)["tags"] == [] and api.run(run_id)["notes"] is None


def test_each_run_has_its_best_and_last_value_of_a_chosen_metric(api, db_path):
    falling = script_run(db_path, "falling", [3.0, 1.0, 0.5, 0.7])
    silent = script_run(db_path, "silent", [])
    runs = {r["id"]: r for r in api.get("/api/runs?metric=loss&mode=min").get_json()["runs"]}
    assert runs[falling]["summary"] == {
        "metric": "loss", "best": 0.5, "best_step": 2, "last": 0.7, "last_step": 3,
    }  # fmt: skip
    assert runs[silent]["summary"] is None
    best_max = api.get("/api/runs?metric=loss&mode=max").get_json()["runs"]
    assert [r["summary"]["best"] for r in best_max if r["id"] == falling] == [3.0]
    assert api.get("/api/runs?metric=loss&mode=median").status_code == 400


def test_every_open_page_hears_of_new_tags_even_on_a_finished_run(api, db_path, socket_client):
    run_id = script_run(db_path, "a", [1.0])
    page = socket_client()
    page.get_received()
    api.patch(f"/api/runs/{run_id}", json={"tags": ["keep"]})
    heard = [m["args"][0] for m in page.get_received() if m["name"] == "run"]
    assert [(r["id"], r["tags"]) for r in heard] == [(run_id, ["keep"])]
