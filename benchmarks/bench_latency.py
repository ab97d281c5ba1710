#!/usr/bin/env python
"""Live latency benchmark: Run.log -> Socket.IO `metrics` at a client, and PATCH -> optimizer.

    python benchmarks/bench_latency.py                     # both modes, about 45 s
    python benchmarks/bench_latency.py --modes script --seconds 20 --changes 100

Goals (issue 2): points reach a connected client p50 <= 60 ms, p99 <= 150 ms after Run.log;
an lr PATCH reaches optimizer.param_groups p99 <= 150 ms plus one step after its 200.

Processes, as in real use:
- the app (create_app + ServerThread, START_WORKER off) in a subprocess;
- the training loop: mode `script` in its own subprocess (a user's script with
  client.init), mode `builtin` as a thread inside the app's process (as a built-in run
  shares the process, and the GIL, with the server, streamer and writer);
- the client (python-socketio over a real websocket) in this process.
Latency of a point = the time the client reads its message off the websocket - the wall_time
Run.log stamped on it (one machine, one clock). python-socketio then runs each message's
handler in a new thread; that later time is shown too (`handler`). `--trace` splits the
latency into stages (writer, streamer, transport) by timing the writer and streamer.
Control latency = time the loop first sees the new lr after
between_steps - time this process got the PATCH's 200.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TOKEN = "t"
STREAM_P50_MS, STREAM_P99_MS, CONTROL_P99_MS = 60.0, 150.0, 150.0


# -- the other side: app and/or training loop in a subprocess, driven over stdin/stdout -----


def say(*words) -> None:
    print(*words, flush=True)


def stream(run, seconds: float, hz: float, keys: int) -> None:
    """A loop that logs `keys` scalars a step at `hz` steps/s for `seconds`, obeying the run."""
    period = 1.0 / hz
    start = time.perf_counter()
    count = 0
    for step in run.steps(start=run.step):
        target = start + count * period
        if target - start >= seconds:
            break
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        run.log(step, **{f"k{i}": step * 0.001 + i for i in range(keys)})
        count += 1
    say("DONE", count * keys)


def control_loop(run, step_ms: float) -> None:
    """Fixed-time steps; print the time the loop first uses each new lr. Ends on a stop."""
    optimizer = run.optimizer
    last = optimizer.param_groups[0]["lr"]
    period = step_ms / 1000.0
    say("READY")
    next_step = time.perf_counter()
    for step in run.steps(start=run.step):
        lr = optimizer.param_groups[0]["lr"]  # what this step's optimizer.step() would use
        if lr != last:
            say("LR", repr(lr), repr(time.time()), step)
            last = lr
        run.log(step, loss=1.0 / (step + 1))
        next_step += period
        delay = next_step - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    say("STOPPED")


def install_trace(trace: list) -> None:
    """Record when the writer commits which points, and when the streamer emits which ids."""
    from lernkurve.tracking.writer import Writer
    from lernkurve.web.streamer import Streamer

    write, emit = Writer._write, Streamer._emit_metrics

    # Both wrap the real methods whatever their arguments: a wrapper with the wrong signature
    # raised inside the streamer on every tick, and each tick logged it.
    def traced_write(self, runs, batches, *args, **kwargs):
        times = [p[1] for b in batches for p in b["points"]]
        start = time.time()
        result = write(self, runs, batches, *args, **kwargs)
        if times:
            trace.append(["write", start, time.time(), min(times), max(times)])
        return result

    def traced_emit(self, *args, **kwargs):
        first, start = self.cursor, time.time()
        count = emit(self, *args, **kwargs)
        if count:
            trace.append(["emit", start, time.time(), first, self.cursor])
        return count

    Writer._write, Streamer._emit_metrics = traced_write, traced_emit


def role(args) -> int:
    """Subprocess: the app (--serve) and/or a training loop (--produce); commands on stdin."""
    os.environ["LERNKURVE_DATA_DIR"] = args.data_dir
    trace: list = []
    if args.trace:
        install_trace(trace)
    server = app = run = None
    if args.serve:
        from lernkurve.launch import build_app
        from lernkurve.web.app import start_app
        from lernkurve.web.server import ServerThread

        app = start_app(
            build_app(
                {
                    "DATABASE": args.db,
                    "TOKEN": TOKEN,
                    "START_WORKER": False,
                    "DATA_DIR": args.data_dir,
                }
            )
        )
        server = ServerThread(app, "127.0.0.1", 0).start()
        say("URL", server.base_url)
    if args.produce:
        import torch

        from lernkurve.tracking import client

        torch.set_num_threads(1)
        run = client.init(
            name="bench-latency", config={"lr": 0.1, "momentum": 0.9}, live=["lr"], db=args.db
        )
        model = torch.nn.Linear(2, 1)
        run.watch(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
        say("RUN", run.id)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "stream":
            stream(run, float(words[1]), float(words[2]), int(words[3]))
        elif words[0] == "control":
            control_loop(run, float(words[1]))
    if run is not None:
        run.finish()
    if app is not None:
        app.extensions["lernkurve"].shutdown()
        server.stop()
    if args.trace:
        Path(args.data_dir, f"trace-{os.getpid()}.json").write_text(json.dumps(trace))
    return 0


class Child:
    """A role subprocess; its stdout lines arrive in a queue, split into words."""

    def __init__(self, tmp: Path, db: Path, *flags: str) -> None:
        command = [sys.executable, __file__, "--role", "--db", str(db), "--data-dir", str(tmp)]
        self.proc = subprocess.Popen(
            [*command, *flags], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.split())
        self.lines.put(["EOF"])

    def expect(self, word: str, timeout: float = 60.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            words = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if words and words[0] == word:
                return words
            if words == ["EOF"]:
                raise RuntimeError(f"child exited before {word}")

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        try:
            self.send("quit")
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- this side: client, PATCHes, statistics ---------------------------------------------------


def request(base: str, method: str, path: str, body: dict) -> int:
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as response:
        response.read()
        return response.status


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_mode(mode: str, args, tmp: Path) -> dict:
    import socketio

    tmp.mkdir(parents=True, exist_ok=True)
    db = tmp / "bench.db"
    trace = ["--trace"] if args.trace else []
    server = Child(tmp, db, "--serve", *trace, *(["--produce"] if mode == "builtin" else []))
    producer = server if mode == "builtin" else Child(tmp, db, "--produce", *trace)
    try:
        base = server.expect("URL")[1]
        run_id = int(producer.expect("RUN")[1])
        latencies: list[float] = []  # ms from Run.log to the client reading the message
        handled: list[float] = []  # ms from Run.log to the client's `metrics` handler
        arrivals: list[tuple] = []  # (id, wall_time, read, handled) of each point measured
        read_at: dict[int, float] = {}
        seen: set[int] = set()
        client = socketio.Client(reconnection=False)
        receive_packet = client.eio._receive_packet

        def stamp_receipt(pkt):
            # The client hands each message to a new thread; stamp it where it is read off the
            # websocket (a browser's handler runs about then) and again in the handler.
            if isinstance(pkt.data, str) and pkt.data.startswith('2["metrics"'):
                arrived = time.time()
                for point in json.loads(pkt.data[1:])[1]["points"]:
                    read_at[point[0]] = arrived
            return receive_packet(pkt)

        client.eio._receive_packet = stamp_receipt

        @client.on("metrics")
        def on_metrics(data):
            arrived = time.time()
            if data.get("run_id") != run_id:
                return
            for point in data["points"]:
                if point[0] not in seen:
                    seen.add(point[0])
                    read = read_at.pop(point[0], arrived)
                    latencies.append((read - point[4]) * 1000)
                    handled.append((arrived - point[4]) * 1000)
                    arrivals.append((point[0], point[4], read, arrived))

        client.connect(base, auth={"token": TOKEN}, transports=["websocket"], wait_timeout=10)
        if client.transport() != "websocket":
            raise RuntimeError(f"client is on {client.transport()}, not websocket")
        answer = client.call("subscribe", {"run_id": run_id, "since_id": None}, timeout=10)
        assert answer == {"ok": True}, answer

        # warm up the whole path, then measure
        producer.send(f"stream {args.warmup} {args.hz} {args.keys}")
        expected = int(producer.expect("DONE")[1])
        wait_until(lambda: len(latencies) >= expected, 5)
        latencies.clear()
        handled.clear()
        arrivals.clear()
        producer.send(f"stream {args.seconds} {args.hz} {args.keys}")
        expected = int(producer.expect("DONE", args.seconds + 30)[1])
        wait_until(lambda: len(latencies) >= expected, 5)
        stream_ms, handler_ms, stream_points = list(latencies), list(handled), list(arrivals)

        producer.send(f"control {args.step_ms}")
        producer.expect("READY")
        time.sleep(0.2)
        sent: dict[str, float] = {}
        for i in range(args.changes):
            # spread the PATCHes so they land at every phase of the writer's 50 ms cycle
            time.sleep(random.uniform(args.gap / 2, args.gap * 1.5))
            lr = round(0.001 * (i + 1), 6)
            status = request(base, "PATCH", f"/api/runs/{run_id}/hparams", {"lr": lr})
            sent[repr(lr)] = time.time()
            assert status == 200, status
        control_ms = []
        for _ in range(args.changes):
            _, value, used_at, _step = producer.expect("LR", 10)
            control_ms.append((float(used_at) - sent[value]) * 1000)
        request(base, "POST", f"/api/runs/{run_id}/control", {"action": "stop"})
        producer.expect("STOPPED", 10)
        client.disconnect()
        return {
            "mode": mode,
            "load": os.getloadavg()[0],
            "tmp": tmp,
            "points": stream_points,
            "stream": stream_ms,
            "handler": handler_ms,
            "expected": expected,
            "control": control_ms,
        }
    finally:
        if producer is not server:
            producer.close()
        server.close()


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def report(results: list[dict], args) -> bool:
    ok = True
    print(
        f"\n1. Run.log -> `metrics` at the client ({args.hz:g} Hz x {args.keys} key(s), "
        f"{args.seconds:g} s per trial)"
    )
    print(
        f"   {'mode':<8} {'trial':>5} {'points':>7} {'lost':>5} {'p50 ms':>7} {'p90 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'handler p50/p99':>16} {'load':>5}"
    )
    for mode in args.modes:
        rows = [r for r in results if r["mode"] == mode]
        for i, r in enumerate(rows):
            s = r["stream"]
            print(
                f"   {mode:<8} {i + 1:>5} {len(s):>7} {r['expected'] - len(s):>5} "
                f"{pct(s, 0.5):>7.1f} {pct(s, 0.9):>7.1f} {pct(s, 0.99):>7.1f} {max(s):>7.1f} "
                f"{pct(r['handler'], 0.5):>8.1f}/{pct(r['handler'], 0.99):<7.1f} {r['load']:>5.1f}"
            )
        p50 = statistics.median(pct(r["stream"], 0.5) for r in rows)
        p99 = statistics.median(pct(r["stream"], 0.99) for r in rows)
        met = p50 <= STREAM_P50_MS and p99 <= STREAM_P99_MS
        ok = ok and met
        print(
            f"   {mode:<8} median of trials: p50 {p50:.1f} ms, p99 {p99:.1f} ms -> goal p50 <= "
            f"{STREAM_P50_MS:g}, p99 <= {STREAM_P99_MS:g}: {'MET' if met else 'MISSED'}"
        )
    limit = CONTROL_P99_MS + args.step_ms
    print(
        f"\n2. PATCH lr (200 received) -> the loop's optimizer uses it ({args.changes} changes, "
        f"{args.step_ms:g} ms steps)"
    )
    print(f"   {'mode':<8} {'trial':>5} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for mode in args.modes:
        rows = [r for r in results if r["mode"] == mode]
        for i, r in enumerate(rows):
            c = r["control"]
            print(
                f"   {mode:<8} {i + 1:>5} {pct(c, 0.5):>7.1f} {pct(c, 0.9):>7.1f} "
                f"{pct(c, 0.99):>7.1f} {max(c):>7.1f}"
            )
        p50 = statistics.median(pct(r["control"], 0.5) for r in rows)
        p99 = statistics.median(pct(r["control"], 0.99) for r in rows)
        met = p99 <= limit
        ok = ok and met
        print(
            f"   {mode:<8} median of trials: p50 {p50:.1f} ms, p99 {p99:.1f} ms -> goal p99 <= "
            f"{limit:g} ms: {'MET' if met else 'MISSED'}"
        )
    return ok


STAGES = (
    ("in memory until the writer drains", "log", "drain"),
    ("writer: executemany + commit", "drain", "commit"),
    ("committed until streamer query", "commit", "query"),
    ("streamer: query + emit", "query", "emitted"),
    ("emitted until the client reads it", "emitted", "read"),
    ("total: log until read", "log", "read"),
    ("(client: read until handler)", "read", "handled"),
)


def stage_times(result: dict) -> list[dict]:
    """For each measured point: when it was logged, drained, committed, queried, emitted, seen."""
    trace = []
    for path in Path(result["tmp"]).glob("trace-*.json"):
        trace += json.loads(path.read_text())
    writes = sorted((t for t in trace if t[0] == "write"), key=lambda t: t[3])
    emits = sorted((t for t in trace if t[0] == "emit"), key=lambda t: t[3])
    out = []
    for point_id, wall_time, read, handled in result["points"]:
        write = next((w for w in writes if w[3] <= wall_time <= w[4]), None)
        emit = next((e for e in emits if e[3] < point_id <= e[4]), None)
        if write is None or emit is None:
            continue
        out.append(
            {
                "log": wall_time,
                "drain": write[1],
                "commit": write[2],
                "query": emit[1],
                "emitted": emit[2],
                "read": read,
                "handled": handled,
            }
        )
    return out


def report_trace(results: list[dict], args) -> None:
    print("\n3. Where a point's time goes (all trials; ms; `worst 1%`: mean over the slowest 1%)")
    print(f"   {'mode':<8} {'stage':<36} {'p50':>6} {'p99':>6} {'max':>6} {'worst 1%':>9}")
    for mode in args.modes:
        points = [p for r in results if r["mode"] == mode for p in stage_times(r)]
        if not points:
            continue
        worst = sorted(points, key=lambda p: p["read"] - p["log"])[-max(1, len(points) // 100) :]
        for name, a, b in STAGES:
            ms = [(p[b] - p[a]) * 1000 for p in points]
            tail = statistics.mean((p[b] - p[a]) * 1000 for p in worst)
            print(
                f"   {mode:<8} {name:<36} {pct(ms, 0.5):>6.1f} {pct(ms, 0.99):>6.1f} "
                f"{max(ms):>6.1f} {tail:>9.1f}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", default="script,builtin", help="script and/or builtin")
    parser.add_argument("--trials", type=int, default=1, help="trials per mode")
    parser.add_argument("--seconds", type=float, default=6.0, help="streaming time per trial")
    parser.add_argument("--hz", type=float, default=100.0, help="Run.log calls per second")
    parser.add_argument("--keys", type=int, default=1, help="scalars per Run.log call")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds streamed first")
    parser.add_argument("--changes", type=int, default=50, help="lr PATCHes per trial")
    parser.add_argument("--gap", type=float, default=0.12, help="mean seconds between PATCHes")
    parser.add_argument("--step-ms", type=float, default=5.0, help="step time of the loop")
    parser.add_argument(
        "--trace", action="store_true", help="also break the stream latency into its stages"
    )
    parser.add_argument("--role", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    if args.role:
        return role(args)
    args.modes = [m for m in args.modes.split(",") if m]
    print(f"Latency benchmark; python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="lernkurve-bench-") as tmp:
        os.environ["LERNKURVE_DATA_DIR"] = tmp
        results = []
        for trial in range(args.trials):
            for mode in args.modes:
                results.append(measure_mode(mode, args, Path(tmp) / f"{mode}-{trial}"))
        ok = report(results, args)
        if args.trace:
            report_trace(results, args)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
