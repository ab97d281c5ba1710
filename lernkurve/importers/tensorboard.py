"""TensorBoard event files as Lernkurve runs (scalars only, records parsed with TensorBoard's
own protobuf classes), so old runs can be compared with new ones; importing the same folder
again adds only what is new::

    python -m lernkurve.tensorboard import LOGDIR [--db PATH|URL]     (or: lernkurve import-tb)
        [--max-files N] [--max-bytes SIZE] [--max-seconds S] [--quiet]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lernkurve.importers.events import TENSORBOARD_PIN, metric_key, require
from lernkurve.importers.jobs import ImportJob
from lernkurve.importers.logdir import ImportProblem, import_logdir, run_import
from lernkurve.importers.report import Progress, Report
from lernkurve.importers.runs import SOURCE
from lernkurve.importers.walk import Limits

__all__ = [
    "SOURCE",
    "TENSORBOARD_PIN",
    "ImportJob",
    "ImportProblem",
    "Limits",
    "Progress",
    "Report",
    "import_logdir",
    "main",
    "metric_key",
    "require",
    "run_import",
]

PROGRESS_EVERY = 1.0  # seconds between the command line's progress lines
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def size(text: str) -> int:
    """A byte count such as 1073741824, 500M or 2G."""
    raw = text.strip().lower().removesuffix("b").removesuffix("i")
    unit = raw[-1:] if raw[-1:] in _UNITS else ""
    try:
        value = float(raw[: len(raw) - len(unit)]) * _UNITS[unit]
    except ValueError:
        message = f"not a size: {text!r} (e.g. 1073741824, 500M, 2G)"
        raise argparse.ArgumentTypeError(message) from None
    return int(value)


def _parser() -> argparse.ArgumentParser:
    defaults = Limits()
    parser = argparse.ArgumentParser(
        prog="lernkurve import-tb",
        description="Import TensorBoard event files as Lernkurve runs (scalars only). "
        "Importing the same folder again adds only points not imported yet; a run whose "
        "files cannot all be read is left as it was.",
    )
    parser.add_argument("logdir", help="a TensorBoard log folder (every run below it)")
    parser.add_argument("--db", help="database file or SQLAlchemy URL (default as the app)")
    parser.add_argument(
        "--max-files",
        type=int,
        default=defaults.max_files,
        help="stop after finding this many event files (default %(default)s)",
    )
    parser.add_argument(
        "--max-bytes",
        type=size,
        default=defaults.max_bytes,
        help="stop before reading more than this (default 1G)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=defaults.max_seconds,
        help="stop after this long (default %(default)g)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def progress_line(progress: Progress) -> str:
    p = progress.snapshot()
    if p["phase"] == "walking":
        return "importing: looking for event files..."
    waiting = " (waiting for another import of it)" if p["waiting"] else ""
    return (
        f"importing: run {min(p['runs_done'] + 1, p['runs_found'])} of {p['runs_found']}"
        f" {p['current'] or ''}{waiting}, {p['files_done']:,} of {p['files_found']:,} files, "
        f"{p['bytes_done'] / 1e6:,.1f} of {p['bytes_total'] / 1e6:,.1f} MB, "
        f"{p['points']:,} points"
    )


def main(argv: list[str] | None = None) -> int:
    """``[import] LOGDIR [--db PATH|URL] [bounds]``: the importer's command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["import"]:  # python -m lernkurve.tensorboard import LOGDIR
        argv = argv[1:]
    parser = _parser()
    args = parser.parse_args(argv)
    limits = Limits(args.max_files, args.max_bytes, args.max_seconds)
    for name, (low, high) in Limits.BOUNDS.items():
        if not low <= getattr(limits, name) <= high:
            parser.error(f"--{name.replace('_', '-')} must be between {low:g} and {high:g}")
    try:
        require()
        if not Path(args.logdir).expanduser().is_dir():
            raise FileNotFoundError(f"no such folder: {args.logdir}")
    except (FileNotFoundError, ImportError) as err:
        print(f"lernkurve: {err}", file=sys.stderr)
        return 1
    job = ImportJob(Path(args.logdir).expanduser(), args.db, limits).start()
    try:
        _follow(job, args.quiet)
    except KeyboardInterrupt:
        print("lernkurve: cancelling; the run being imported goes back as it was", file=sys.stderr)
        job.cancel()
        job.wait()
    return _answer(job, args.logdir)


def _follow(job: ImportJob, quiet: bool) -> None:
    began = time.monotonic()
    while not job.wait(PROGRESS_EVERY):
        if not quiet:
            print(progress_line(job.progress), file=sys.stderr, flush=True)
    if not quiet and job.report is not None:
        p = job.progress.snapshot()
        print(
            f"done in {time.monotonic() - began:.1f} s: {p['files_done']:,} files, "
            f"{p['bytes_done'] / 1e6:,.1f} MB read, {p['points']:,} points added",
            file=sys.stderr,
        )


def _answer(job: ImportJob, logdir: str) -> int:
    if job.report is None:
        print(
            f"lernkurve: {(job.error or {}).get('message', 'the import failed')}", file=sys.stderr
        )
        return 1
    report: Report = job.report
    for item in report.runs:
        verb = "imported" if item["new"] else "updated"
        print(f"run {item['run_id']} {item['name']}: {verb}, {item['added']} points added")
    for note in report.notes.items:
        print(f"lernkurve: skipped {note['path']}: {note['reason']}", file=sys.stderr)
    if report.notes.more:
        print(f"lernkurve: skipped {report.notes.more} more", file=sys.stderr)
    for error in report.errors:
        print(f"lernkurve: not imported: {error['run']}: {error['message']}", file=sys.stderr)
    if report.cancelled:
        print(f"lernkurve: cancelled: {report.message()}", file=sys.stderr)
        return 130
    if report.bound:
        print(f"lernkurve: {report.message()}", file=sys.stderr)
        return 1
    if not report.runs and not report.errors:
        print(f"lernkurve: no TensorBoard event files under {logdir}", file=sys.stderr)
        return 1
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
