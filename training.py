"""Training that Lernkurve watches and steers (the same as ``import lernkurve``).

In your own script::

    import training                      # inside the checkout; elsewhere: import lernkurve
    with training.init(name="my-net", config={"lr": 0.1, "batch_size": 64},
                       live=["lr", "batch_size"]) as run:
        run.watch(model, optimizer)
        for step in run.steps(10_000):
            ...
            run.log({"loss": loss}, step=step)

From a terminal, a built-in task: ``python training.py --task spiral --lr 0.1``
(the same as ``lernkurve train --task spiral --lr 0.1``).
"""

import sys

from lernkurve.shared.hparams import HParamError
from lernkurve.tasks.cli import main
from lernkurve.tasks.worker import Worker
from lernkurve.tracking.client import continue_run, init, open_database
from lernkurve.tracking.run import Run

__all__ = ["HParamError", "Run", "Worker", "continue_run", "init", "main", "open_database"]

if __name__ == "__main__":
    sys.exit(main())
