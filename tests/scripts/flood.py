"""A script that logs KEYS scalars a step as fast as it can for SECONDS, then finishes.

usage: flood.py SECONDS KEYS
Prints "run <id>" first and "logged <points>" once finish() has returned.
"""

import sys
import time

from lernkurve.tracking import client

seconds, keys = float(sys.argv[1]), [f"k{i}" for i in range(int(sys.argv[2]))]
run = client.init(name="flood", config={"lr": 0.1}, live=["lr"], system_metrics=False)
print(f"run {run.id}", flush=True)
step, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    for _ in range(100):
        run.log({key: step * 1e-6 + i for i, key in enumerate(keys)}, step=step)
        step += 1
run.finish()
print(f"logged {step * len(keys)}", flush=True)
