"""The ``lernkurve`` command: the desktop app, the headless server, training, imports."""

from __future__ import annotations

import sys

from lernkurve import __version__
from lernkurve.cli_commands import NAMES

USAGE = f"""usage: lernkurve [COMMAND] [OPTIONS]

Lernkurve {__version__}: watch and steer PyTorch training live.

commands:
  (none)      open the app in a native window (--db PATH|URL, --token T, --headless)
  serve       serve the app headless for any browser on this machine
  train       train a built-in task here (--task spiral|digits, hparams as options)
  import-tb   import TensorBoard event files as runs (needs: pip install "lernkurve[tensorboard]")

read and steer runs in the database (--db PATH|URL, else LERNKURVE_DB; --json for scripts):
  runs [--status S --tag T --sort best:KEY|-best:KEY]    list runs
  show RUN                   hparams, status, step, last/best of each key, recent events
  metrics RUN [KEYS] [--since STEP] [--follow]           points (--follow: as they come)
  events RUN                 the run's events
  set RUN lr=3e-4 [...] [--mode scale|override]          change live hparams (lr=x0.5: factor)
  release RUN lr             hand a pinned lr back to its schedule
  pause|resume|step|stop|checkpoint RUN
  lr-test RUN [--min --max --steps --metric]             an LR range test from where it is
  race RUN lr=1e-3,3e-3 --steps N                        race variants; it goes on with the best
  autopilot RUN on|off|undo
  tag RUN TAG... [--remove]  note RUN TEXT               a run's tags and note
  export RUN --csv [FILE]    every point as CSV
  query "SQL"                read-only SQL (runs, metrics, events, ...)
  rm RUN [--force]           remove an ended run
  completion bash|zsh        a shell completion script
  mcp                        an MCP server on stdio for AI agents (pip install "lernkurve[mcp]")
  mcp allow-steering|deny-steering|status                may an agent steer (off by default)

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
    if argv and argv[0] in NAMES:
        from lernkurve.cli_commands import main as run_command

        return run_command(argv, list(COMMANDS))
    return _desktop(argv)


if __name__ == "__main__":
    sys.exit(main())
