"""Running a user's script from tests/scripts in its own process, reading what it recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from support import ROOT, open_sqlite, wait_for


class Records:
    """A script's own JSON-lines record, one line per step the loop ran."""

    def __init__(self, path) -> None:
        self.path = path

    def all(self) -> list[dict]:
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def wait_past(self, step: int, timeout: float = 30.0, after: int = 0) -> list[dict]:
        """The records once the loop ran beyond ``step``, having gone back ``after`` times
        (a trial puts the step counter back)."""

        def past():
            records = self.all()
            pairs = zip(records, records[1:], strict=False)
            back = sum(1 for a, b in pairs if b["step"] <= a["step"])
            return records and back >= after and records[-1]["step"] > step and records

        return wait_for(past, timeout)

    def wait_still(self, quiet: float = 0.5, timeout: float = 30.0) -> list[dict]:
        """The records once the loop has run no step for ``quiet`` seconds (it has ended)."""
        seen = {"count": -1, "since": time.monotonic()}

        def still():
            records = self.all()
            if len(records) != seen["count"]:
                seen.update(count=len(records), since=time.monotonic())
            return time.monotonic() - seen["since"] >= quiet and records

        return wait_for(still, timeout)


def ctrl_c_as_in_a_terminal() -> None:
    """In the child: SIGINT raises KeyboardInterrupt, as for a script started in a terminal,
    even when the suite runs in a shell's background job (which starts with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Scripts:
    """Starts ``script`` against a test's database; ``start(*args, record=...)`` returns
    (process, run id, records); the script prints "run <id>" first. Leaving the ``with``
    kills what still runs."""

    def __init__(self, script, db_path, data_dir, tmp_path) -> None:
        self.script, self.tmp_path = script, tmp_path
        self.env = {**os.environ, "LERNKURVE_DB": str(db_path), "LERNKURVE_DATA_DIR": str(data_dir)}
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str, record: str = "record.jsonl"):
        records = self.tmp_path / record
        proc = subprocess.Popen(
            [sys.executable, "-u", str(self.script), *args, "--record", str(records)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=ctrl_c_as_in_a_terminal,
        )
        self.procs.append(proc)
        line = proc.stdout.readline()
        assert line.startswith("run "), line + proc.stderr.read()
        return proc, int(line.split()[1]), Records(records)

    def __enter__(self):
        return self.start

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


class LiveCli(Scripts):
    """Live runs of tests/scripts/trial.py on a database in ``folder``, and the CLI (or a
    client of ``lernkurve mcp``) pointed at it through LERNKURVE_DB."""

    def __init__(self, folder) -> None:
        self.folder, self.db = folder, folder / "lernkurve.db"
        super().__init__(ROOT / "tests" / "scripts" / "trial.py", self.db, folder / "data", folder)

    def start(self, steps: int, delay: float, name: str) -> tuple[int, Records]:
        """A run of ``steps`` steps of ``delay`` seconds: (run id, its records)."""
        _, run_id, records = super().start(str(steps), str(delay), record=f"{name}.jsonl")
        return run_id, records

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        """``lernkurve ARGS`` against the database (LERNKURVE_DB); asserts success if ``ok``."""
        done = subprocess.run(
            [sys.executable, "-m", "lernkurve.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    def json(self, *args: str):
        return json.loads(self.cli(*args, "--json").stdout)

    def events(self, run_id: int, kind: str) -> list[dict]:
        """The run's events of ``kind``, read straight from the database."""
        with open_sqlite(self.db) as conn:
            rows = conn.execute(
                "SELECT step, payload FROM events WHERE run_id = ? AND kind = ? ORDER BY id",
                (run_id, kind),
            ).fetchall()
        return [{"step": step, "payload": json.loads(payload)} for step, payload in rows]

    def wait_event(self, run_id: int, kind: str, count: int = 1) -> dict:
        """The run's ``count``-th event of ``kind``, once it is there."""
        return wait_for(lambda: (found := self.events(run_id, kind))[count - 1 :] and found, 30)[
            count - 1
        ]

    def close(self) -> None:
        self.__exit__()


def lrs_after(records: Records, count: int) -> list[float]:
    """The lr each of the loop's own steps (not a trial's) used, after the first ``count``."""
    return [r["lr"] for r in records.all()[count:] if not r["trial"]]
