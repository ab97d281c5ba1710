"""A script that logs 2 scalars a step, STEPS steps with DELAY seconds between them.

usage: paced.py STEPS DELAY [PROGRESS_FILE]
Prints "run <id>" first and "ended <status>" after the run has finished; with PROGRESS_FILE,
writes the number of steps done there every 50 steps.
"""

import sys
import time
from pathlib import Path

from lernkurve.tracking import client

steps, delay = int(sys.argv[1]), float(sys.argv[2])
progress = Path(sys.argv[3]) if len(sys.argv) > 3 else None
with client.init(name="paced", config={"lr": 0.1}, live=["lr"], system_metrics=False) as run:
    print(f"run {run.id}", flush=True)
    for step in run.steps(steps):
        run.log(step, loss=1.0 / (step + 1), lr=0.1)
        time.sleep(delay)
        if progress is not None and (step + 1) % 50 == 0:
            progress.write_text(str(step + 1))
print(f"ended {run.status}", flush=True)
