"""``lernkurve.tensorboard``: the drop-in ``SummaryWriter`` (lernkurve.integrations.tensorboard)
and the event-file importer's command line (lernkurve.importers.tensorboard)::

    from lernkurve.tensorboard import SummaryWriter
    python -m lernkurve.tensorboard import LOGDIR [--db PATH|URL]
"""

import sys

from lernkurve.importers.tensorboard import import_logdir, main
from lernkurve.integrations.tensorboard import SummaryWriter

__all__ = ["SummaryWriter", "import_logdir", "main"]

if __name__ == "__main__":
    sys.exit(main())
