"""Lernkurve's server, headless: ``python webserver.py [--host 127.0.0.1] [--port N] [--db
PATH|URL] [--token T]`` (the same as ``lernkurve serve``). The app lives in lernkurve.app."""

from lernkurve.app import create_app, exit_now, main

__all__ = ["create_app", "main"]

if __name__ == "__main__":
    exit_now(main())
