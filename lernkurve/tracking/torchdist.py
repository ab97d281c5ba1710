"""Whether this process is one rank of a torch.distributed job of several (torch not imported
here: the web side never loads it)."""

from __future__ import annotations

import sys


def in_distributed_job() -> bool:
    distributed = sys.modules.get("torch.distributed")
    return bool(distributed and distributed.is_initialized() and distributed.get_world_size() > 1)
