"""The ``lernkurve`` command: the desktop app, the headless server, training, imports."""

from __future__ import annotations

import sys

from lernkurve import __version__

USAGE = f"""usage: lernkurve [COMMAND] [OPTIONS]

Lernkurve {__version__}: watch and steer PyTorch training live.

commands:
  (none)      open the app in a native window (--db PATH|URL, --token T, --headless)
  serve       serve the app headless for any browser on this machine
  train       train a built-in task here (--task spiral|digits, hparams as options)
  import-tb   import TensorBoard event files as runs (needs: pip install "lernkurve[tensorboard]")

`lernkurve COMMAND --help` tells more; `lernkurve --version` prints the version."""


def _desktop(argv: list[str]) -> int:
    from lernkurve.desktop.app import exit_now, main

    exit_now(main(argv))
    return 0  # not reached: exit_now ends the process


def _serve(argv: list[str]) -> int:
    from lernkurve.launch import exit_now, main

    exit_now(main(argv))
    return 0


def _train(argv: list[str]) -> int:
    from lernkurve.tasks.cli import main

    return main(argv)


def _import_tb(argv: list[str]) -> int:
    try:
        from lernkurve.tensorboard import main
    except ImportError as err:
        print(f"lernkurve import-tb: {err}", file=sys.stderr)
        return 2
    return main(argv)


COMMANDS = {"serve": _serve, "train": _train, "import-tb": _import_tb}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if argv and argv[0] == "--version":
        print(f"lernkurve {__version__}")
        return 0
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    return _desktop(argv)


if __name__ == "__main__":
    sys.exit(main())
