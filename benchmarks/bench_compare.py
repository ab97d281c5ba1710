#!/usr/bin/env python
"""Compare at scale in headless Chromium: the runs table with 200 runs, 20 runs compared, and the
table sorted by best value.

    python benchmarks/bench_compare.py                        # 200 runs x 200 steps, 5 repeats
    python benchmarks/bench_compare.py --runs 500 --compare 20 --repeats 3

Script runs with varied hparams (lr, batch_size, weight_decay) and a `train_loss` of `--steps`
points are written straight into a temp SQLite database, the app serves it on a free port, and
each repeat: (1) loads the page at `#/compare/` -> every run a row in the table with its best
value filled in; (2) sets the hash that compares `--compare` runs -> each run's Chart.js dataset
holds its points, and the same as a page load of that address; (3) clicks the best column's
header -> the rows in the new order. Goal (issue 22): each <= 0.5 s.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time

from pageserver import chromium_path, open_browser, served_app

GOAL_S = 0.5
BATCHES = [16, 32, 64, 128]
DECAYS = [0.0, 1e-4, 1e-3, 1e-2]

# Every run a row, and every row's best cell filled in (a run without a summary shows "–").
TABLE_READY = """(n) => {
    const rows = document.querySelectorAll('#cmp-table tbody tr');
    if (rows.length !== n) return false;
    for (const row of rows) {
        const best = row.querySelector("td[data-col='best']");
        if (!best || best.textContent === '–' || best.textContent === '') return false;
    }
    return true;
}"""
ROW_IDS = """() => [...document.querySelectorAll('#cmp-table tbody tr')]
    .map((r) => +r.dataset.runId)"""
# The compare chart's datasets (smoothed copies left out): how many points each run's holds.
DRAWN = """() => {
    const canvas = document.querySelector('#cmp-chart-block canvas');
    const chart = canvas && globalThis.Chart && Chart.getChart(canvas);
    if (!chart) return {};
    return Object.fromEntries(chart.data.datasets
        .filter((d) => !String(d.lkId).endsWith(':smoothed'))
        .map((d) => [d.lkId, d.data.length]));
}"""
ALL_DRAWN = (
    "(ids) => { const n = (" + DRAWN + ")(); return ids.every((id) => (n[String(id)] || 0) > 0); }"
)
ORDER_IS = "(ids) => { const got = (" + ROW_IDS + ")(); return got.join() === ids.join(); }"


def seed_runs(db, count: int, steps: int) -> dict[int, float]:
    """`count` finished script runs with varied hparams and a `train_loss` of `steps` points,
    written straight into the database (as tests/browser/test_compare_scale.py seeds them).
    Returns each run's best (lowest) loss."""
    from lernkurve.store.models import now
    from lernkurve.store.points import expand_points

    rng = random.Random(22)
    best = {}
    stamp = now() - steps - 60
    for i in range(count):
        lr = round(10 ** rng.uniform(-4, -1), 6)
        hparams = {"lr": lr, "batch_size": BATCHES[i % 4], "weight_decay": DECAYS[(i // 4) % 4]}
        floor = 0.05 + rng.random()
        scale = 2.0 * rng.random() + 0.5
        tau = steps / (2 + 8 * rng.random())
        curve = [
            floor + scale * math.exp(-s / tau) + 0.03 * abs(math.sin(0.7 * s + i))
            for s in range(steps)
        ]
        run_id = db.insert_run(
            name=f"sweep-{i:03d}",
            task="script",
            status="completed",
            hparams=hparams,
            step=steps - 1,
            total_steps=steps,
            started_at=stamp,
            ended_at=stamp + steps,
        ).id
        points = [(s, stamp + s, {"train_loss": v}) for s, v in enumerate(curve)]
        rows, _, buckets = expand_points(run_id, points)
        with db.engine.begin() as conn:
            db.insert_metrics(conn, rows)
            db.upsert_buckets(conn, run_id, buckets)
        best[run_id] = min(curve)
    return best


def wait(page, script: str, arg, timeout_s: float) -> None:
    page.wait_for_function(script, arg=arg, timeout=timeout_s * 1000, polling=10)


def load_page(page, url: str) -> float:
    """Start a page load of `url` from a blank page; returns the perf_counter it started at."""
    page.goto("about:blank")
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    return started


def repeat_once(page, base: str, n_runs: int, by_best: list[int], compared: list[int], timeout_s):
    """One of each measurement; seconds each."""
    out = {}
    # (1) the runs table: page load of #/compare/ -> every row with its best value.
    started = load_page(page, f"{base}#/compare/")
    wait(page, TABLE_READY, n_runs, timeout_s)
    out["table"] = time.perf_counter() - started
    page.wait_for_selector("html[data-ready]", state="attached")
    page.wait_for_timeout(300)

    # (3) a click on the best column's header -> the rows sorted by it (lowest first).
    started = time.perf_counter()
    page.locator("#cmp-table th[data-col='best'] .cmp-sort").click(timeout=timeout_s * 1000)
    wait(page, ORDER_IS, by_best, timeout_s)
    out["sort"] = time.perf_counter() - started
    page.wait_for_timeout(300)

    # (2a) the hash that compares the runs, set in the open table -> each run's series drawn.
    started = time.perf_counter()
    page.evaluate(f"location.hash = '#/compare/{','.join(map(str, compared))}'")
    wait(page, ALL_DRAWN, compared, timeout_s)
    out["compare_hash"] = time.perf_counter() - started
    out["points"] = page.evaluate(DRAWN)

    # (2b) a page load of that address -> each run's series drawn.
    started = load_page(page, f"{base}#/compare/{','.join(map(str, compared))}")
    wait(page, ALL_DRAWN, compared, timeout_s)
    out["compare_load"] = time.perf_counter() - started
    return out


def stats(values: list[float]) -> tuple[str, str, str]:
    if not values:
        return ("-", "-", "-")
    return tuple(f"{v:.3f} s" for v in (statistics.median(values), min(values), max(values)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs in the database")
    parser.add_argument("--steps", type=int, default=200, help="loss points per run")
    parser.add_argument("--compare", type=int, default=20, help="runs compared")
    parser.add_argument("--repeats", type=int, default=5, help="measurements of each")
    parser.add_argument("--timeout", type=float, default=60.0, help="give up a wait after (s)")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a missed goal")
    args = parser.parse_args(argv)

    chromium = chromium_path()
    if chromium is None:
        print("bench_compare: needs Chromium (make system-deps)", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    results = []
    with served_app() as served:
        started = time.perf_counter()
        best = seed_runs(served.db, args.runs, args.steps)
        print(
            f"wrote {args.runs} runs x {args.steps} points in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        # The table's sort: best ascending, ties newest first (cmptable.js).
        by_best = sorted(best, key=lambda r: (best[r], -r))
        compared = sorted(best)[-args.compare :]
        with sync_playwright() as playwright:
            opened = open_browser(playwright, chromium)
            page, errors = opened.page, opened.errors
            print(f"Chromium {opened.browser.version}, {os.cpu_count()} CPUs, load {load()}")
            # One untimed load: the browser's cache holds the scripts, as for a user.
            page.goto(f"{served.url}#/compare/")
            wait(page, TABLE_READY, args.runs, args.timeout)
            for i in range(args.repeats):
                out = repeat_once(page, served.url, args.runs, by_best, compared, args.timeout)
                results.append(out)
                print(
                    f"  {i + 1}: table {out['table']:.3f} s, sort {out['sort']:.3f} s, "
                    f"compare (hash) {out['compare_hash']:.3f} s, "
                    f"compare (load) {out['compare_load']:.3f} s",
                    flush=True,
                )
            opened.browser.close()
    missed = print_table(results, args)
    if errors:
        print(f"\nconsole errors: {errors[:5]}")
    return 1 if missed and args.strict else 0


def print_table(results: list[dict], args) -> bool:
    figures = [
        (f"(1) page load #/compare/ -> {args.runs} rows with best", "table"),
        (f"(2) hash -> {args.compare} runs' series drawn", "compare_hash"),
        (f"(2) page load of it -> {args.compare} drawn", "compare_load"),
        ("(3) click 'best' header -> rows in order", "sort"),
    ]
    widths = [48, 9, 9, 9, 7]
    rule = "  ".join("-" * w for w in widths)
    print(
        f"\nCompare: {args.runs} runs x {args.steps} points, {args.compare} compared, "
        f"{len(results)} repeats"
    )
    print(rule)
    header = ("figure", "median", "min", "max", "goal")
    print("  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)))
    print(rule)
    missed = False
    for label, key in figures:
        values = [r[key] for r in results]
        met = bool(values) and statistics.median(values) <= GOAL_S
        missed |= not met
        row = (label, *stats(values), "MET" if met else "MISSED")
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print(rule)
    if results:
        points = sorted(set(results[-1]["points"].values()))
        print(f"points a compared series holds: {', '.join(map(str, points))}")
    print(f"goal: each <= {GOAL_S} s (median); load {load()}, {os.cpu_count()} cores")
    return missed


def load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "-"


if __name__ == "__main__":
    raise SystemExit(main())
