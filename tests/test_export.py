"""The CSV export: what a spreadsheet or csv.reader reads back is what was logged."""

from __future__ import annotations

import csv
import io

from lernkurve.store import queries

ODD_KEYS = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\rlf\r\n", " padded ", "ünï"]


def test_csv_round_trips_keys_with_commas_quotes_and_newlines(app, api, monkeypatch):
    monkeypatch.setattr(queries, "CSV_CHUNK", 3)  # rows cross chunk boundaries
    db = app.extensions["lernkurve"].db
    run_id = db.insert_run(name="odd keys", task="spiral", status="stopped").id
    rows = [
        (run_id, key, step, step / 3 if step % 4 else None, 1.5e9 + step)
        for step, key in enumerate(ODD_KEYS)
    ]
    with db.write() as conn:
        db.insert_metrics(conn, rows)

    text = api.get(f"/api/runs/{run_id}/export.csv").get_data(as_text=True)
    read = list(csv.reader(io.StringIO(text, newline="")))

    assert read[0] == ["step", "key", "value", "wall_time"]
    expected = [
        [str(step), key, "" if value is None else repr(value), repr(wall)]
        for _, key, step, value, wall in rows
    ]
    assert read[1:] == expected
    assert [float(r[2]) for r in read[1:] if r[2]] == [r[3] for r in rows if r[3] is not None]
