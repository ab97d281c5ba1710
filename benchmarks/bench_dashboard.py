#!/usr/bin/env python
"""Dashboard benchmark in headless Chromium: first full render of a huge run's charts, and the
page's JS heap under a long stream of live points. Prints one table per goal.

    python benchmarks/bench_dashboard.py                  # 1,000,000 points per metric, 10 min live
    python benchmarks/bench_dashboard.py --minutes 2      # a shorter live phase
    python benchmarks/bench_dashboard.py --points 100000 --rate 2000

Goals: first full render <= 1 s; JS heap flat and under 200 MB after 10 min at 1,000 points/s.
The live points come from a separate process using `client.init` (as a user's script would),
so they travel the real path: script -> database -> streamer -> Socket.IO -> page.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pageserver import CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent

KEYS = ("train_loss", "val_loss", "val_accuracy", "lr")
VAL_EVERY = 10  # the live writer logs val_* every 10 steps, train_loss and lr every step
POINTS_PER_STEP = 2 + 2 / VAL_EVERY
HEAP_GOAL_MB = 200
RENDER_GOAL_S = 1.0
FLAT_MB_PER_MIN = 0.5


def curve(key: str, step: int, total: int) -> float:
    x = step / total
    noise = random.random() * 0.05
    if key == "train_loss":
        return math.exp(-4 * x) + noise
    if key == "val_loss":
        return 1.1 * math.exp(-3.5 * x) + noise / 2
    if key == "val_accuracy":
        return 1 - 0.9 * math.exp(-5 * x) - noise / 2
    return 0.1 if x < 0.5 else 0.01


def make_big_run(db_path: Path, points: int) -> tuple[int, float]:
    """A finished run with `points` points for each of KEYS, written in bulk; (id, seconds)."""
    from lernkurve.shared.hparams import schema_from_config
    from lernkurve.store.database import Database
    from lernkurve.store.models import RunRow, now
    from lernkurve.store.points import expand_points

    db = Database(db_path)
    config = {"lr": 0.1, "batch_size": 64}
    stamp = now() - points / 1000
    row = RunRow(
        name=f"{points:,} points per metric",
        task="custom",
        status="completed",
        hparams=config,
        config={"schema": schema_from_config(config, ["lr"])},
        step=points,
        total_steps=points,
        created_at=stamp,
        started_at=stamp,
        ended_at=now(),
    )
    with db.Session() as session:
        session.add(row)
        session.commit()
    # The writer's own path (points plus the min/max buckets it keeps), in big batches.
    started = time.perf_counter()
    chunk = 50_000
    with db.engine.begin() as conn:
        for first in range(1, points + 1, chunk):
            batch = [
                (s, stamp + s / 1000, {key: curve(key, s, points) for key in KEYS})
                for s in range(first, min(points, first + chunk - 1) + 1)
            ]
            rows, _, buckets = expand_points(row.id, batch)
            db.insert_metrics(conn, rows)
            db.upsert_buckets(conn, row.id, buckets)
    seconds = time.perf_counter() - started
    db.dispose()
    return row.id, seconds


def writer(db_path: str, rate: float, seconds: float) -> None:
    """Child process: a user's script logging `rate` points/s for `seconds` through training."""
    from lernkurve.tracking import client

    steps_per_s = rate / POINTS_PER_STEP
    with client.init(
        name=f"live {rate:,.0f} points/s", config={"lr": 0.1}, live=["lr"], db=db_path
    ) as run:
        print(run.id, flush=True)
        started = time.perf_counter()
        for step in run.steps():
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                break
            while step > elapsed * steps_per_s:
                time.sleep(0.005)
                elapsed = time.perf_counter() - started
            x = step / (steps_per_s * 600)
            run.log({"train_loss": math.exp(-x) + random.random() * 0.05, "lr": 0.1}, step=step)
            if step % VAL_EVERY == 0:
                run.log(
                    {"val_loss": math.exp(-x) * 1.1, "val_accuracy": 1 - math.exp(-x)}, step=step
                )


RENDER_JS = """async (id) => {
    location.hash = '#/';
    await new Promise((r) => setTimeout(r, 200));
    const name = `lernkurve:charts-rendered:${id}`;
    performance.clearMarks(name);
    performance.clearResourceTimings();
    const start = performance.now();
    location.hash = `#/run/${id}`;
    await new Promise((resolve) => {
        const check = () => performance.getEntriesByName(name).length
            ? resolve() : requestAnimationFrame(check);
        check();
    });
    const drawn = performance.getEntriesByName(name)[0].startTime - start;
    // One more frame: the drawn canvases are now on screen.
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const shown = performance.now() - start;
    const fetches = performance.getEntriesByType('resource')
        .filter((e) => e.name.includes('/metrics'));
    const charts = [...document.querySelectorAll('#chart-stack canvas')]
        .map((c) => Chart.getChart(c)).filter(Boolean);
    const points = charts.reduce((n, c) => n + c.data.datasets
        .reduce((m, d) => m + (d.lkId.endsWith(':smoothed') ? 0 : d.data.length), 0), 0);
    return {drawn, shown, fetch: fetches.length ? fetches[0].duration : null, points};
}"""

LAST_STEP_JS = """() => {
    const c = Chart.getChart(document.querySelector('#chart-block-loss canvas'));
    const d = c && c.data.datasets.find((x) => x.lkId === 'train_loss');
    return d && d.data.length ? {step: d.data[d.data.length - 1].s, kept: d.data.length} : null;
}"""


def heap_mb(cdp) -> tuple[float, float]:
    cdp.send("HeapProfiler.collectGarbage")
    usage = cdp.send("Runtime.getHeapUsage")
    return usage["usedSize"] / 2**20, usage["totalSize"] / 2**20


class Table:
    """A fixed-width table printed row by row, so a long run shows its progress."""

    def __init__(self, title: str, header: list[str], widths: list[int]) -> None:
        self.widths = widths
        self.rule = "  ".join("-" * w for w in widths)
        print(f"\n{title}\n{self.rule}")
        self.row(header)
        print(self.rule, flush=True)

    def row(self, cells: list[str]) -> None:
        print(
            "  ".join(str(c).ljust(w) for c, w in zip(cells, self.widths, strict=True)), flush=True
        )

    def end(self) -> None:
        print(self.rule, flush=True)


def seconds_stats(values: list[float]) -> list[str]:
    if not values:
        return ["-", "-", "-"]
    return [f"{statistics.median(values):.3f} s", f"{min(values):.3f} s", f"{max(values):.3f} s"]


def bench_render(page, base_url: str, token: str, run_id: int, args, fill_s: float) -> None:
    """Goal 1: time from opening a run to its charts fully on screen."""
    # Cold: the whole page loads straight into the big run.
    page.goto(f"{base_url}/?token={token}#/run/{run_id}")
    page.wait_for_selector(f"html[data-charts-rendered='{run_id}']", timeout=120_000)
    cold = page.evaluate(
        f"performance.getEntriesByName('lernkurve:charts-rendered:{run_id}')[0].startTime"
    )
    # Warm: open the run from a loaded page, as a person does from the sidebar.
    renders = [page.evaluate(RENDER_JS, run_id) for _ in range(args.repeats)]
    shown = [r["shown"] / 1000 for r in renders]
    drawn = [r["drawn"] / 1000 for r in renders]
    fetch = [r["fetch"] / 1000 for r in renders if r["fetch"] is not None]
    verdict = "ok" if statistics.median(shown) <= RENDER_GOAL_S else "MISSED"
    table = Table(
        f"First full render: {len(KEYS)} metrics x {args.points:,} points, "
        f"{renders[0]['points']:,} points drawn ({args.repeats} opens)",
        ["measure", "median", "min", "max", "goal"],
        [34, 9, 9, 9, 14],
    )
    table.row(["open run -> charts on screen", *seconds_stats(shown), f"<= 1 s {verdict}"])
    table.row(["  of it: history fetch (server)", *seconds_stats(fetch), ""])
    drawing = [d - f for d, f in zip(drawn, fetch, strict=False)]
    table.row(["  of it: decode + draw (page)", *seconds_stats(drawing), ""])
    table.row(["cold page load -> charts drawn", f"{cold / 1000:.3f} s", "", "", ""])
    table.row(["(setup: bulk insert of the points)", f"{fill_s:.1f} s", "", "", ""])
    table.end()


def bench_live(page, app, token: str, db_path: Path, args) -> None:
    """Goal 2: the JS heap while a script streams points for --minutes."""
    seconds = args.minutes * 60
    command = [sys.executable, __file__, "--writer", str(db_path), str(args.rate), str(seconds + 5)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        live_id = int(child.stdout.readline())
        page.evaluate(f"location.hash = '#/run/{live_id}'")
        page.wait_for_selector(f"html[data-charts-rendered='{live_id}']")
        client, auth = app.test_client(), {"Authorization": f"Bearer {token}"}
        cdp = page.context.new_cdp_session(page)
        cdp.send("HeapProfiler.enable")
        steps_per_s = args.rate / POINTS_PER_STEP
        table = Table(
            f"JS heap during live updates: {args.minutes:g} min at {args.rate:,.0f} points/s "
            f"({steps_per_s:,.0f} steps/s), measured after a forced GC",
            ["minute", "used MB", "total MB", "last step shown", "points kept", "behind"],
            [6, 8, 8, 15, 11, 8],
        )
        samples = []
        started = time.monotonic()
        for i in range(args.samples + 1):
            time.sleep(max(0.0, started + seconds * i / args.samples - time.monotonic()))
            used, total = heap_mb(cdp)
            last = page.evaluate(LAST_STEP_JS) or {"step": 0, "kept": 0}
            written = client.get(f"/api/runs/{live_id}", headers=auth).get_json()["step"]
            elapsed = time.monotonic() - started
            samples.append((elapsed / 60, used))
            behind = max(0, written - last["step"]) / steps_per_s
            table.row(
                [
                    f"{elapsed / 60:.1f}",
                    f"{used:.1f}",
                    f"{total:.1f}",
                    f"{last['step']:,}",
                    f"{last['kept']:,}",
                    f"{behind:.2f} s",
                ]
            )
        table.end()
    finally:
        child.terminate()
        child.wait(10)
    half = [s for s in samples if s[0] >= args.minutes / 2] or samples
    slope = slope_per_minute(half)
    peak = max(used for _, used in samples)
    ok = peak < HEAP_GOAL_MB and abs(slope) < FLAT_MB_PER_MIN
    table = Table("JS heap: summary", ["measure", "result", "goal"], [22, 14, 24])
    table.row(["heap at the end", f"{samples[-1][1]:.1f} MB", f"< {HEAP_GOAL_MB} MB"])
    table.row(["heap peak", f"{peak:.1f} MB", f"< {HEAP_GOAL_MB} MB"])
    table.row(["slope, second half", f"{slope:+.2f} MB/min", f"flat (|s| < {FLAT_MB_PER_MIN})"])
    table.row(["verdict", "ok" if ok else "MISSED", ""])
    table.end()


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, MB) samples."""
    if len(samples) < 2:
        return 0.0
    xs, ys = zip(*samples, strict=True)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in samples) / den if den else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points per metric")
    parser.add_argument("--minutes", type=float, default=10.0, help="live phase duration")
    parser.add_argument("--rate", type=float, default=1000.0, help="live points per second")
    parser.add_argument("--repeats", type=int, default=5, help="times the big run is opened")
    parser.add_argument("--samples", type=int, default=10, help="heap samples in the live phase")
    parser.add_argument("--writer", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.writer:
        writer(args.writer[0], float(args.writer[1]), float(args.writer[2]))
        return 0

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("bench_dashboard: needs Chromium (make system-deps)", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    from lernkurve.launch import build_app
    from lernkurve.web.app import start_app
    from lernkurve.web.server import ServerThread

    with tempfile.TemporaryDirectory(prefix="lernkurve-bench-") as tmp:
        db_path = Path(tmp) / "bench.db"
        print(f"writing {len(KEYS)} x {args.points:,} points ...", flush=True)
        big_id, fill_s = make_big_run(db_path, args.points)
        token = secrets.token_urlsafe(16)
        config = {"DATABASE": str(db_path), "TOKEN": token, "START_WORKER": False, "DATA_DIR": tmp}
        app = start_app(build_app(config))
        server = ServerThread(app, "127.0.0.1", 0).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                print(f"Chromium {browser.version}, {os.cpu_count()} CPUs", flush=True)
                page = browser.new_page(viewport={"width": 1600, "height": 1000}, locale="en-US")
                errors = []
                page.on("console", lambda m: m.type == "error" and errors.append(m.text))
                page.on("pageerror", lambda e: errors.append(str(e)))
                bench_render(page, server.base_url, token, big_id, args, fill_s)
                bench_live(page, app, token, db_path, args)
                if errors:
                    print(f"\nconsole errors: {errors}")
                browser.close()
        finally:
            app.extensions["lernkurve"].shutdown()
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
