"""Lernkurve's server, headless: ``python webserver.py [--host 127.0.0.1] [--port N] [--db
PATH|URL] [--token T]`` (the same as ``lernkurve serve``), put together in lernkurve.launch."""

from lernkurve.launch import build_app, exit_now, main

__all__ = ["build_app", "main"]

if __name__ == "__main__":
    exit_now(main())
