"""The executable leaves numpy out (40 MB; tests/bundle): the store works without it. A script
logs and reads in a Python where ``import numpy`` fails; what it stored and read is what the
store gives with numpy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lernkurve.store.database import Database
from lernkurve.store.queries import csv_lines, metric_series
from support import ROOT

pytestmark = pytest.mark.sqlite_only

SCRIPT = """
import json, math, sys
sys.modules["numpy"] = None  # import numpy fails, as in the executable
from lernkurve.store import blockreads
from lernkurve.store.database import Database
from lernkurve.store.points import delete_points
from lernkurve.store.queries import csv_lines, metric_series
from lernkurve.tracking import client

run = client.init(name="no numpy", config={}, db=sys.argv[1], system_metrics=False)
steps = [5, 3, 3, 2**40, 0] + list(range(10, 2000))
for i, step in enumerate(steps):
    value = [1.5, float("nan"), float("inf"), -0.0, 2.0][i % 5] if i < 5 else math.sin(step)
    run.log(step, loss=value, acc=i * 0.25, note="text" if i == 7 else i)
run.finish()
db = Database(sys.argv[1])
out = {"all": metric_series(db, run.id, ["loss", "acc", "note"]),
       "shown": metric_series(db, run.id, ["loss"], max_points=100, since_id=3),
       "later": metric_series(db, run.id, ["loss", "acc"], max_points=50, since_step=1900),
       "csv": "".join(csv_lines(db, run.id, chunk=700))}
with db.engine.connect() as conn:
    out["between"] = blockreads.points_between(conn, run.id, 10, 60, 30)
    out["before"] = blockreads.last_before(conn, run.id, "loss", 1000)
with db.write() as conn:
    delete_points(conn, [run.id], 1500)
out["cut"] = metric_series(db, run.id, ["loss"])
print(json.dumps({"run": run.id, **out}))
"""


def without_numpy(script: str, db_path) -> dict:
    """What the script printed, run where numpy cannot be imported."""
    done = subprocess.run(
        [sys.executable, "-c", script, str(db_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_python_without_numpy_logs_reads_and_cuts_as_with_it(tmp_path):
    db_path = tmp_path / "plain.db"
    plain = without_numpy(SCRIPT, db_path)
    db = Database(db_path)  # read with numpy what was written without it
    run_id = plain["run"]
    cut = metric_series(db, run_id, ["loss"])
    assert plain["cut"] == json.loads(json.dumps(cut))
    assert [p[0] for p in cut["series"]["loss"]] == [5, 3, 3, 0] + list(range(10, 1500))
    acc = plain["all"]["series"]["acc"]
    assert [v for _, v, _ in acc] == [i * 0.25 for i in range(len(acc))]
    note = [step for step, _, _ in plain["all"]["series"]["note"]]
    assert 12 not in note and len(note) == 1994  # the one text value dropped, with a warning
    loss = plain["all"]["series"]["loss"]
    assert [v for _, v, _ in loss[:5]] == [1.5, None, None, -0.0, 2.0]
    assert loss[3][0] == 2**40
    db.dispose()


def test_reads_without_numpy_are_the_reads_with_it(tmp_path):
    db_path = tmp_path / "plain.db"
    plain = without_numpy(SCRIPT.replace("with db.write() as conn:", "if False:"), db_path)
    db = Database(db_path)
    run_id = plain["run"]
    with_numpy = {
        "all": metric_series(db, run_id, ["loss", "acc", "note"]),
        "shown": metric_series(db, run_id, ["loss"], max_points=100, since_id=3),
        "later": metric_series(db, run_id, ["loss", "acc"], max_points=50, since_step=1900),
        "csv": "".join(csv_lines(db, run_id, chunk=700)),
    }
    from lernkurve.store import blockreads

    with db.engine.connect() as conn:
        with_numpy["between"] = [
            list(r) for r in blockreads.points_between(conn, run_id, 10, 60, 30)
        ]
        with_numpy["before"] = blockreads.last_before(conn, run_id, "loss", 1000)
    db.dispose()
    for name, value in with_numpy.items():
        assert plain[name] == json.loads(json.dumps(value)), name
    assert len(plain["shown"]["series"]["loss"]) <= 100
    later = plain["later"]["series"]["loss"]
    assert 2 <= len(later) <= 50 and min(p[0] for p in later) >= 1900  # 2**40 counts as later
