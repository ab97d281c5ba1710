"""Running a user's script from tests/scripts in its own process, reading what it recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from support import wait_for


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
