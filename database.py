"""The database module, kept at the top for scripts that import it: it lives in lernkurve.db."""

from lernkurve.db import *  # noqa: F403
