"""A user's script run in a thread of the test, for page tests that need a live run they shape.

Subclasses say what it logs each step (`values`). `write` adds an event or snapshot row to the
server's SQLite file, as the run's writer would, for what only the page is tested on.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time


class ScriptRun:
    def __init__(self, db_path, name: str, config: dict, live: list[str]) -> None:
        from lernkurve.tracking import client

        self.run = client.init(name=name, config=config, live=live, db=db_path)
        self.db_path = db_path
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.train, daemon=True)
        self.thread.start()

    def values(self, step: int) -> dict:
        return {"loss": 1 / (step + 1)}

    def train(self) -> None:
        with self.run:
            for step in self.run.steps():
                self.run.log(self.values(step), step=step)
                if self.done.wait(0.01):
                    break

    def write(self, table: str, kind: str, payload: dict, step: int = 5) -> None:
        """Add a row to `events` or `snapshots`; the server streams it like any other."""
        with sqlite3.connect(self.db_path, timeout=10) as db:
            db.execute(
                f"INSERT INTO {table} (run_id, step, wall_time, kind, payload) VALUES (?,?,?,?,?)",
                (self.run.id, step, time.time(), kind, json.dumps(payload)),
            )

    def finish(self) -> None:
        self.done.set()
        self.thread.join(10)
