#!/usr/bin/env python
"""Dashboard benchmark in headless Chromium: first full render of a huge run's charts, and the
page's JS heap under a long stream of live points. Prints one table per goal.

    python benchmarks/bench_dashboard.py                  # 1,000,000 points per metric, 10 min live
    python benchmarks/bench_dashboard.py --minutes 2      # a shorter live phase
    python benchmarks/bench_dashboard.py --points 100000 --rate 2000

Goals: first full render <= 1 s; JS heap flat and under 200 MB after 10 min at 1,000 points/s.
The live points come from a separate process using `training.init` (as a user's script would),
so they travel the real path: script -> database -> streamer -> Socket.IO -> page.
"""

from __future__ import annotations

import argparse
import math
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEYS = ("train_loss", "val_loss", "val_accuracy", "lr")
VAL_EVERY = 10  # the live writer logs val_* every 10 steps, train_loss and lr every step
POINTS_PER_STEP = 2 + 2 / VAL_EVERY
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
HEAP_GOAL_MB = 200
RENDER_GOAL_S = 1.0


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
    from database import Database, now
    from database import Run as RunRow
    from lernkurve.hparams import schema_from_config

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
    started = time.perf_counter()
    chunk = 200_000
    with db.engine.begin() as conn:
        for key in KEYS:
            for first in range(1, points + 1, chunk):
                rows = [
                    (row.id, key, s, curve(key, s, points), stamp + s / 1000)
                    for s in range(first, min(points, first + chunk - 1) + 1)
                ]
                db.insert_metrics(conn, rows)
    seconds = time.perf_counter() - started
    db.dispose()
    return row.id, seconds


def writer(db_path: str, rate: float, seconds: float) -> None:
    """Child process: a user's script logging `rate` points/s for `seconds` through training."""
    import training

    steps_per_s = rate / POINTS_PER_STEP
    with training.init(
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


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)
    print(f"\n{title}\n{line}")
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points per metric")
    parser.add_argument("--minutes", type=float, default=10.0, help="live phase duration")
    parser.add_argument("--rate", type=float, default=1000.0, help="live points per second")
    parser.add_argument("--repeats", type=int, default=5, help="renders to time")
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

    from lernkurve.server import ServerThread
    from webserver import create_app

    with tempfile.TemporaryDirectory(prefix="lernkurve-bench-") as tmp:
        db_path = Path(tmp) / "bench.db"
        print(f"writing {len(KEYS)} x {args.points:,} points ...", flush=True)
        big_id, fill_s = make_big_run(db_path, args.points)
        token = secrets.token_urlsafe(16)
        app = create_app(
            {"DATABASE": str(db_path), "TOKEN": token, "START_WORKER": False, "DATA_DIR": tmp}
        )
        server = ServerThread(app, "127.0.0.1", 0).start()
        child = None
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1600, "height": 1000}, locale="en-US")
                errors = []
                page.on("console", lambda m: m.type == "error" and errors.append(m.text))
                page.on("pageerror", lambda e: errors.append(str(e)))

                # 1. Cold: the whole page loads straight into the big run.
                page.goto(f"{server.base_url}/?token={token}#/run/{big_id}")
                page.wait_for_selector(f"html[data-charts-rendered='{big_id}']", timeout=60000)
                cold = page.evaluate(
                    f"performance.getEntriesByName('lernkurve:charts-rendered:{big_id}')[0]"
                    ".startTime"
                )
                # 2. Warm: open the run from a loaded page (what a person does in the sidebar).
                renders = [page.evaluate(RENDER_JS, big_id) for _ in range(args.repeats)]
                shown = [r["shown"] / 1000 for r in renders]
                drawn = [r["drawn"] / 1000 for r in renders]
                fetch = [r["fetch"] / 1000 for r in renders if r["fetch"] is not None]
                median = statistics.median(shown)
                verdict = "ok" if median <= RENDER_GOAL_S else "MISSED"
                table(
                    f"First full render: one run, {len(KEYS)} metrics x {args.points:,} points "
                    f"(Chromium {browser.version}, {renders[0]['points']:,} points drawn)",
                    ["measure", "median", "min", "max", "goal"],
                    [
                        [
                            "open run -> charts on screen",
                            f"{median:.3f} s",
                            f"{min(shown):.3f} s",
                            f"{max(shown):.3f} s",
                            f"<= {RENDER_GOAL_S:.0f} s {verdict}",
                        ],
                        [
                            "  of which charts drawn",
                            f"{statistics.median(drawn):.3f} s",
                            f"{min(drawn):.3f} s",
                            f"{max(drawn):.3f} s",
                            "",
                        ],
                        [
                            "  of which history fetch",
                            f"{statistics.median(fetch):.3f} s" if fetch else "-",
                            f"{min(fetch):.3f} s" if fetch else "-",
                            f"{max(fetch):.3f} s" if fetch else "-",
                            "",
                        ],
                        ["cold page load -> charts drawn", f"{cold / 1000:.3f} s", "", "", ""],
                        ["(setup) bulk insert of points", f"{fill_s:.1f} s", "", "", ""],
                    ],
                )

                # 3. Live: a script streams points; the page shows them for --minutes.
                seconds = args.minutes * 60
                child = subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--writer",
                        str(db_path),
                        str(args.rate),
                        str(seconds + 5),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                )
                live_id = int(child.stdout.readline())
                page.evaluate(f"location.hash = '#/run/{live_id}'")
                page.wait_for_selector(f"html[data-charts-rendered='{live_id}']")
                api, auth = app.test_client(), {"Authorization": f"Bearer {token}"}
                cdp = page.context.new_cdp_session(page)
                cdp.send("HeapProfiler.enable")
                rows, samples = [], []
                started = time.monotonic()
                steps_per_s = args.rate / POINTS_PER_STEP
                print(
                    f"\nlive phase: {args.minutes:g} min at {args.rate:,.0f} points/s "
                    f"({steps_per_s:,.0f} steps/s) ...",
                    flush=True,
                )
                for i in range(args.samples + 1):
                    target = started + seconds * i / args.samples
                    time.sleep(max(0.0, target - time.monotonic()))
                    used, total = heap_mb(cdp)
                    last = page.evaluate(LAST_STEP_JS) or {"step": 0, "kept": 0}
                    elapsed = time.monotonic() - started
                    written = api.get(f"/api/runs/{live_id}", headers=auth).get_json()["step"]
                    samples.append((elapsed, used))
                    rows.append(
                        [
                            f"{elapsed / 60:5.1f}",
                            f"{used:6.1f}",
                            f"{total:6.1f}",
                            f"{last['step']:,}",
                            f"{last['kept']:,}",
                            f"{max(0.0, written - last['step']) / steps_per_s:.2f} s",
                        ]
                    )
                    print("  " + "  ".join(rows[-1]), flush=True)
                half = [s for s in samples if s[0] >= seconds / 2] or samples
                slope = 0.0
                if len(half) > 1:
                    xs = [s[0] / 60 for s in half]
                    ys = [s[1] for s in half]
                    mx, my = statistics.fmean(xs), statistics.fmean(ys)
                    den = sum((x - mx) ** 2 for x in xs)
                    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den
                peak = max(s[1] for s in samples)
                table(
                    f"JS heap during live updates ({args.minutes:g} min at {args.rate:,.0f} "
                    "points/s; after a forced GC)",
                    ["minute", "used MB", "total MB", "last step shown", "points kept", "behind"],
                    rows,
                )
                flat = abs(slope) < 0.5
                ok = peak < HEAP_GOAL_MB and flat
                table(
                    "JS heap: summary",
                    ["measure", "result", "goal"],
                    [
                        ["heap at end", f"{samples[-1][1]:.1f} MB", f"< {HEAP_GOAL_MB} MB"],
                        ["heap peak", f"{peak:.1f} MB", f"< {HEAP_GOAL_MB} MB"],
                        ["slope, second half", f"{slope:+.2f} MB/min", "flat (|slope| < 0.5)"],
                        ["verdict", "ok" if ok else "MISSED", ""],
                    ],
                )
                if errors:
                    print(f"\nconsole errors: {errors}")
                browser.close()
        finally:
            if child is not None:
                child.terminate()
                child.wait(10)
            app.extensions["lernkurve"].shutdown()
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
