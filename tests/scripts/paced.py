"""A script that logs 2 scalars a step, STEPS steps with DELAY seconds between them.

usage: paced.py STEPS DELAY
Prints "run <id>" first and "ended <status>" after the run has finished.
"""

import sys
import time

from lernkurve.tracking import client

steps, delay = int(sys.argv[1]), float(sys.argv[2])
with client.init(name="paced", config={"lr": 0.1}, live=["lr"], system_metrics=False) as run:
    print(f"run {run.id}", flush=True)
    for step in run.steps(steps):
        run.log(step, loss=1.0 / (step + 1), lr=0.1)
        time.sleep(delay)
print(f"ended {run.status}", flush=True)
