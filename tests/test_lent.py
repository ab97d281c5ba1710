"""Tensors lent to gloo's worker threads are kept until the threads let go (lent.py).

A real gloo process group of one rank, in a subprocess (a process group is process-wide).
"""

from __future__ import annotations

import subprocess
import sys

from support import ROOT

SCRIPT = """
import sys
import torch
import torch.distributed as dist
from lernkurve.tracking.lent import Lent

dist.init_process_group("gloo", init_method="file://" + sys.argv[1], rank=0, world_size=1)
options = dist.BroadcastOptions()
tensor = torch.zeros(3, dtype=torch.int64)
work = dist.group.WORLD.broadcast([tensor], options)
work.wait()
lent = Lent()
lent.add(tensor)
print("held", lent.settle(timeout=0.2))
del work  # the last holder of the collective's work lets go
print("settled", lent.settle(timeout=5))
del tensor
print("kept", len(lent._tensors))
dist.destroy_process_group()
"""


def test_settle_waits_until_no_worker_holds_a_lent_tensor(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["held False", "settled True", "kept 0"]
