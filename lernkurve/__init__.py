"""Lernkurve's internals; the entry points are the top-level webserver, desktop and training."""

__version__ = "0.1.0"
