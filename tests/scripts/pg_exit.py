"""A one-rank gloo job that ends as scripts do: finish, destroy_process_group, exit.

usage: pg_exit.py DB PG_FILE
Prints "freed" when Python's exit found the process group already let go of, "held" when
something still held it (it would then be freed in the interpreter's teardown, where gloo can
abort the process).
"""

import atexit
import gc
import sys
import weakref

import torch.distributed as dist

from lernkurve.tracking import client

held = {}


def report() -> None:  # registered first, so it runs after every other exit handler
    gc.collect()
    print("freed" if held["world"]() is None else "held", flush=True)


atexit.register(report)
dist.init_process_group("gloo", init_method=f"file://{sys.argv[2]}", rank=0, world_size=1)
held["world"] = weakref.ref(dist.group.WORLD)
run = client.init(name="job", config={"lr": 0.1}, db=sys.argv[1], system_metrics=False)
for step in run.steps(3):
    run.log(step, all_ranks=True, loss=1.0 + step)
run.finish()
dist.destroy_process_group()
