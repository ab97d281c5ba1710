#!/usr/bin/env python
"""A run with thousands of metric keys in headless Chromium: the time from opening it to its
first charts drawn and the page answering a click, then typing into the key filter.

    python benchmarks/bench_many_keys.py                     # 1,000 and 10,000 keys, both layouts
    python benchmarks/bench_many_keys.py --keys 10000 --layout sections --repeats 5

Layouts: `sections` spreads the keys over many panels (`train/loss`, `val/*`, 500 per-layer
`grad/norm/block*` in one panel, the rest ten to a panel `sNNNN/m*`); `panel` puts every key in
one panel (`layers/w*`). Goal: the run opens (first chart drawn, a click answered) in <= 2 s with
10,000 keys; a key typed into the filter shows within 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from pageserver import chromium_path, open_browser, served_app

OPEN_GOAL_S = 2.0
FILTER_GOAL_S = 0.5
PER_LAYER = 500


def key_names(count: int, layout: str) -> list[str]:
    """`count` metric keys laid out as described in the module's docstring."""
    if layout == "panel":
        return [f"layers/w{i:05d}" for i in range(count)]
    keys = ["train/loss", "val/loss", "val/acc"]
    keys += [f"grad/norm/block{i:03d}" for i in range(min(PER_LAYER, count - len(keys)))]
    keys += [f"s{i // 10:04d}/m{i % 10}" for i in range(count - len(keys))]
    return keys


def make_run(db, keys: list[str], steps: int) -> int:
    """A finished script run with `steps` points of each key, written in bulk."""
    from lernkurve.store.models import now
    from lernkurve.store.points import expand_points

    stamp = now() - steps
    run_id = db.insert_run(
        name=f"{len(keys):,} keys",
        task="script",
        status="completed",
        hparams={},
        config={},
        step=steps - 1,
        created_at=stamp,
        started_at=stamp,
        ended_at=now(),
    ).id
    with db.engine.begin() as conn:
        for step in range(steps):
            values = {key: 1.0 / (step + 1 + i % 7) for i, key in enumerate(keys)}
            rows, _, buckets = expand_points(run_id, [(step, stamp + step, values)])
            db.insert_metrics(conn, rows)
            db.upsert_buckets(conn, run_id, buckets)
    return run_id


# Click the first panel's log-scale toggle and wait until its chart says logarithmic.
FIRST_LOG = "#chart-stack [data-chart] [data-log-label]"
IS_LOG = """() => {
    const canvas = document.querySelector('#chart-stack [data-chart] canvas');
    const chart = canvas && Chart.getChart(canvas);
    return !!chart && chart.options.scales.y.type === 'logarithmic';
}"""


def open_once(page, run_id: int, timeout_s: float) -> dict:
    """Open the run from the runs list; seconds to the charts' mark and to a click answered."""
    page.evaluate("location.hash = '#/'")
    page.wait_for_selector("html:not([data-charts-rendered])")
    page.wait_for_timeout(300)
    page.evaluate("performance.clearResourceTimings()")
    started = time.perf_counter()
    page.evaluate(f"location.hash = '#/run/{run_id}'")
    page.wait_for_selector(
        f"html[data-charts-rendered='{run_id}']", timeout=timeout_s * 1000, state="attached"
    )
    rendered = time.perf_counter() - started
    page.locator(FIRST_LOG).first.click(timeout=timeout_s * 1000)
    page.wait_for_function(IS_LOG, timeout=timeout_s * 1000, polling=20)
    clicked = time.perf_counter() - started
    charts = page.evaluate(
        "() => [...document.querySelectorAll('#chart-stack canvas')]"
        ".filter((c) => Chart.getChart(c)).length"
    )
    panels = page.evaluate("() => document.querySelectorAll('#chart-stack [data-chart]').length")
    fetch = page.evaluate(
        "() => performance.getEntriesByType('resource')"
        ".filter((e) => e.name.includes('/metrics')).map((e) => e.duration / 1000)[0] ?? null"
    )
    return {
        "rendered": rendered,
        "clicked": clicked,
        "fetch": fetch,
        "charts": charts,
        "panels": panels,
    }


def filter_once(page, text: str) -> float | None:
    """Seconds from typing into the key filter to the panels narrowed (None: no filter box)."""
    box = page.locator("#chart-filter")
    if not box.count():
        return None
    box.fill("")
    page.wait_for_timeout(300)
    started = time.perf_counter()
    box.press_sequentially(text)
    page.wait_for_function(
        """(text) => {
            const shown = [...document.querySelectorAll('#chart-stack [data-chart]')]
                .filter((b) => !b.hidden);
            const chips = shown.flatMap((b) => [...b.querySelectorAll('[data-series]')]);
            return chips.length > 0 && chips.every((c) => c.dataset.series.includes(text));
        }""",
        arg=text,
        polling=20,
    )
    seconds = time.perf_counter() - started
    box.fill("")
    return seconds


def stats(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", default="1000,10000", help="key counts, comma-separated")
    parser.add_argument("--layout", default="sections,panel", help="sections and/or panel")
    parser.add_argument("--steps", type=int, default=20, help="points per key")
    parser.add_argument("--repeats", type=int, default=3, help="opens per run")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up an open after (s)")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a missed goal")
    args = parser.parse_args(argv)

    chromium = chromium_path()
    if chromium is None:
        print("bench_many_keys: needs Chromium (make system-deps)", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    missed = False
    with served_app() as served:
        db = served.db
        cases = [
            (int(count), layout)
            for count in args.keys.split(",")
            for layout in args.layout.split(",")
        ]
        runs = {}
        for count, layout in cases:
            started = time.perf_counter()
            runs[count, layout] = make_run(db, key_names(count, layout), args.steps)
            print(
                f"wrote {count:,} keys ({layout}) x {args.steps} points in "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
        with sync_playwright() as playwright:
            opened = open_browser(playwright, chromium)
            page, errors = opened.page, opened.errors
            print(f"Chromium {opened.browser.version}, {os.cpu_count()} CPUs, load {load()}")
            page.goto(served.url)
            page.wait_for_selector("html[data-ready]")
            rows = []
            for count, layout in cases:
                opens = []
                for _ in range(args.repeats):
                    try:
                        opens.append(open_once(page, runs[count, layout], args.timeout))
                    except Exception as error:  # the old page: past --timeout
                        print(f"  {count:,} {layout}: {type(error).__name__}", flush=True)
                        page.reload()
                        page.wait_for_selector("html[data-ready]", timeout=600_000)
                        break
                text = "s0012" if layout == "sections" else "w00012"
                typed = [filter_once(page, text) for _ in range(args.repeats if opens else 0)]
                typed = [t for t in typed if t is not None]
                clicked = [o["clicked"] for o in opens]
                ok_open = bool(clicked) and statistics.median(clicked) <= OPEN_GOAL_S
                ok_filter = not typed or statistics.median(typed) <= FILTER_GOAL_S
                if count >= 10_000:
                    missed |= not (ok_open and ok_filter)
                rows.append(
                    (
                        f"{count:,} {layout}",
                        stats([o["rendered"] for o in opens]),
                        stats(clicked),
                        stats([o["fetch"] for o in opens if o["fetch"] is not None]),
                        stats([o["clicked"] - o["fetch"] for o in opens if o["fetch"]]),
                        stats(typed) if typed else "no filter",
                        f"{opens[0]['panels']} / {opens[0]['charts']}" if opens else "-",
                        ("ok" if ok_open and ok_filter else "MISSED") if count >= 10_000 else "",
                    )
                )
                print("  ", " | ".join(rows[-1]), flush=True)
            opened.browser.close()
            print_table(rows, args)
            if errors:
                print(f"\nconsole errors: {errors[:5]}")
    return 1 if missed and args.strict else 0


def print_table(rows, args) -> None:
    header = (
        "keys",
        "open -> marked",
        "open -> click answered",
        "  of it: history fetch",
        "  the rest: the page",
        "filter typed",
        "panels/charts",
    )
    widths = [16, 34, 34, 34, 34, 34, 13, 6]
    print(f"\nOpen a run with many keys ({args.steps} points a key, {args.repeats} opens)")
    rule = "  ".join("-" * w for w in widths)
    print(rule)
    print("  ".join(c.ljust(w) for c, w in zip((*header, "goal"), widths, strict=True)))
    print(rule)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print(rule)
    print(f"goal: 10,000 keys open <= {OPEN_GOAL_S} s, filter <= {FILTER_GOAL_S} s; load {load()}")
    print("history fetch: the metrics request as the page saw it (server and transfer, no parsing)")


def load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "-"


if __name__ == "__main__":
    raise SystemExit(main())
