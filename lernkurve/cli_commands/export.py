"""``export RUN --csv [FILE] | --parquet FILE``: every point of a run, streamed from the app's
CSV export (a run of millions of points never sits in memory whole)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lernkurve.cli_commands.context import Context
from lernkurve.cli_commands.errors import CliError
from lernkurve.cli_commands.parser import run_id

PARQUET_EXTRA = 'parquet needs pyarrow: pip install "lernkurve[parquet]"'


def add(sub, parent: argparse.ArgumentParser) -> None:
    """The export command's parser."""
    p = sub.add_parser("export", parents=[parent], help="a run's points as CSV or Parquet")
    p.add_argument("run", type=run_id)
    to = p.add_mutually_exclusive_group(required=True)
    to.add_argument("--csv", nargs="?", const="-", metavar="FILE", help="CSV (default: stdout)")
    to.add_argument("--parquet", metavar="FILE", help="Parquet (pyarrow)")
    p.set_defaults(func=export)


def export(args: argparse.Namespace, ctx: Context) -> None:
    """Every point as ``step,key,value,wall_time`` rows, in CSV or Parquet."""
    chunks = ctx.api.stream(f"/runs/{args.run}/export.csv")
    if args.parquet is not None:
        points = _write_parquet(chunks, Path(args.parquet))
        ctx.emit(
            {"file": args.parquet, "points": points}, f"wrote {points} points to {args.parquet}"
        )
        return
    if args.csv == "-":
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        return
    points = _write_csv(chunks, Path(args.csv))
    ctx.emit({"file": args.csv, "points": points}, f"wrote {points} points to {args.csv}")


def _write_csv(chunks: Iterator[bytes], path: Path) -> int:
    """The CSV into ``path``; the points written."""
    lines = 0
    partial = path.with_name(path.name + ".partial")  # an existing file stays until it is done
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                lines += chunk.count(b"\n")
        partial.replace(path)
    except OSError as err:
        raise CliError(f"cannot write {path}: {err.strerror}") from err
    finally:
        partial.unlink(missing_ok=True)
    return max(lines - 1, 0)


def _write_parquet(chunks: Iterator[bytes], path: Path) -> int:
    """The CSV converted batch by batch into a Parquet file (step int64, key string, value and
    wall_time float64, a missing value null); the points written."""
    try:
        import pyarrow as pa
        from pyarrow import csv as pacsv
        from pyarrow import parquet as pq
    except ImportError:
        raise CliError(PARQUET_EXTRA) from None
    types = {
        "step": pa.int64(),
        "key": pa.string(),
        "value": pa.float64(),
        "wall_time": pa.float64(),
    }
    with tempfile.TemporaryDirectory(prefix="lernkurve-export-") as tmp:
        staged = Path(tmp) / "points.csv"
        _write_csv(chunks, staged)
        reader = pacsv.open_csv(staged, convert_options=pacsv.ConvertOptions(column_types=types))
        points = 0
        try:
            with pq.ParquetWriter(path, pa.schema(types.items())) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    points += batch.num_rows
        except OSError as err:
            raise CliError(f"cannot write {path}: {err}") from err
    return points
