#!/usr/bin/env python
"""Fan-out benchmark: many Socket.IO clients on one live run.

    python benchmarks/bench_fanout.py                   # 50 clients, 1,000 points/s, 60 s
    python benchmarks/bench_fanout.py --seconds 10 --clients 20

Goals (issue 9): every client gets every point exactly once; delivery p50/p99 reported, held
to the live-latency goal of issue 2 (p50 <= 60 ms, p99 <= 150 ms).

Processes, as in real use:
- the app: `python webserver.py --port 0` on a temp database;
- the training loop: a script with training.init in its own process, logging `--keys`
  scalars a step at `--rate` points/s in total;
- the clients: python-socketio Clients over real websockets, spread over `--procs`
  processes (50 browsers do not share one Python interpreter), each subscribed to the run
  before the loop starts.
Delivery time of a point = when a client reads its message off the websocket - the wall_time
Run.log stamped on it (one machine, one clock). Exactly once: each client's point ids are
compared with the run's ids in the database once the loop has finished.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TOKEN = "t"
P50_MS, P99_MS = 60.0, 150.0


def produce(db: str, seconds: float, rate: float, keys: int) -> int:
    """Subprocess: wait for a line on stdin, then log at `rate` points/s for `seconds`."""
    from lernkurve import training

    run = training.init(name="bench-fanout", config={"lr": 0.1}, live=["lr"], db=db)
    print("RUN", run.id, flush=True)
    sys.stdin.readline()
    names = [f"k{i}" for i in range(keys)]
    period = keys / rate
    start = time.perf_counter()
    step = 0
    while step * period < seconds:
        delay = start + step * period - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        run.log({name: step * 0.001 + i for i, name in enumerate(names)}, step=step)
        step += 1
    run.finish()
    print("DONE", step * keys, flush=True)
    return 0


class Client:
    """One python-socketio client; stamps each `metrics` message where it leaves the socket."""

    def __init__(self, base: str, run_id: int) -> None:
        import socketio

        self.run_id = run_id
        self.ids: Counter = Counter()
        self.delays: list[float] = []  # ms from Run.log to reading the message
        self.sio = socketio.Client(reconnection=False)
        receive = self.sio.eio._receive_packet

        def stamp(packet):
            if isinstance(packet.data, str) and packet.data.startswith('2["metrics"'):
                self._take(json.loads(packet.data[1:])[1], time.time())
            return receive(packet)

        self.sio.eio._receive_packet = stamp
        self.sio.on("metrics", lambda data: None)
        self.dropped: float | None = None  # when the connection ended on its own
        self.sio.on("disconnect", lambda *reason: setattr(self, "dropped", time.time()))
        self.sio.connect(base, auth={"token": TOKEN}, transports=["websocket"], wait_timeout=20)
        answer = self.sio.call("subscribe", {"run_id": run_id, "since_id": None}, timeout=20)
        assert answer == {"ok": True}, answer

    def _take(self, message: dict, read_at: float) -> None:
        if message.get("run_id") != self.run_id:
            return
        for point in message["points"]:
            self.ids[point[0]] += 1
            self.delays.append((read_at - point[4]) * 1000)

    def close(self) -> None:
        self.sio.disconnect()


def client_group(base: str, run_id: int, count: int) -> int:
    """Subprocess: `count` clients; on "expect N" wait until each has N points, print results."""
    # Many client threads in one interpreter: hand the GIL on quickly, so the instrument's
    # own thread switching does not add to the delays measured.
    sys.setswitchinterval(0.0005)
    clients = connect_all(base, run_id, count)
    print("READY", flush=True)
    expected = int(sys.stdin.readline().split()[1])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(len(c.ids) < expected for c in clients):
        time.sleep(0.1)
    results = [
        {"ids": list(c.ids.items()), "delays": c.delays, "dropped": c.dropped} for c in clients
    ]
    for client in clients:
        client.close()
    print("RESULT", json.dumps(results), flush=True)
    return 0


class Result:
    """One client's points (id -> times received) and delivery delays, from a group."""

    def __init__(self, data: dict) -> None:
        self.ids = Counter(dict((int(k), n) for k, n in data["ids"]))
        self.delays = data["delays"]
        self.dropped = data["dropped"]


def start_server(db: Path, env: dict) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-u", str(ROOT / "webserver.py"), "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--db", str(db), "--token", TOKEN],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    found = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=", proc.stdout.readline())
    if not found:
        proc.kill()
        raise RuntimeError("webserver.py printed no URL")
    return proc, found.group(1)


def connect_all(base: str, run_id: int, count: int) -> list[Client]:
    clients: list = [None] * count

    def connect(i: int) -> None:
        clients[i] = Client(base, run_id)

    threads = [threading.Thread(target=connect, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if any(client is None for client in clients):
        raise RuntimeError("a client did not connect")
    return clients


def start_group(base: str, run_id: int, count: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--client-group", base, str(run_id), str(count)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # engineio says "packet queue is empty" on disconnect
        text=True,
    )


def send(proc: subprocess.Popen, line: str) -> None:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def run_ids(db: Path, run_id: int) -> set[int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id FROM metrics WHERE run_id = ?", (run_id,)).fetchall()
    return {row[0] for row in rows}


def measure(args, tmp: Path) -> dict:
    db = tmp / "bench.db"
    env = {**os.environ, "LERNKURVE_DATA_DIR": str(tmp), "LERNKURVE_DB": str(db)}
    server, base = start_server(db, env)
    producer = subprocess.Popen(
        [sys.executable, __file__, "--produce", str(db), str(args.seconds), str(args.rate)]
        + [str(args.keys)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    groups: list[subprocess.Popen] = []
    try:
        run_id = int(producer.stdout.readline().split()[1])
        sizes = [len(range(i, args.clients, args.procs)) for i in range(args.procs)]
        groups = [start_group(base, run_id, size, env) for size in sizes if size]
        for group in groups:
            assert group.stdout.readline().split() == ["READY"], "a client group failed"
        send(producer, "go")
        started = time.time()
        logged = int(producer.stdout.readline().split()[1])
        expected = run_ids(db, run_id)
        for group in groups:
            send(group, f"expect {len(expected)}")
        clients = []
        for group in groups:
            words = group.stdout.readline().split(maxsplit=1)
            clients += [Result(data) for data in json.loads(words[1])]
        return {"logged": logged, "expected": expected, "clients": clients, "started": started}
    finally:
        for proc in [producer, *groups]:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(result: dict, args) -> bool:
    expected, clients = result["expected"], result["clients"]
    missing = sum(len(expected - set(c.ids)) for c in clients)
    extra = sum(len(set(c.ids) - expected) for c in clients)
    twice = sum(sum(n - 1 for n in c.ids.values() if n > 1) for c in clients)
    delays = [d for c in clients for d in c.delays]
    per_client = [statistics.median(c.delays) for c in clients if c.delays]
    dropped = sum(c.dropped is not None for c in clients)
    print(
        f"\n{args.clients} clients ({args.procs} processes) on one run, {args.rate:g} points/s "
        f"({args.keys} key(s) a step) for {args.seconds:g} s: {result['logged']} points logged, "
        f"{len(expected)} stored"
    )
    print(
        f"   {'clients':>7} {'dropped':>7} {'points each':>11} {'missing':>8} {'twice':>6} "
        f"{'foreign':>8} "
        f"{'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} {'client p50s':>13} {'load':>5}"
    )
    print(
        f"   {len(clients):>7} {dropped:>7} {len(expected):>11} {missing:>8} {twice:>6} {extra:>8} "
        f"{pct(delays, 0.5):>7.1f} {pct(delays, 0.9):>7.1f} {pct(delays, 0.99):>7.1f} "
        f"{max(delays):>7.1f} {min(per_client):>6.1f}-{max(per_client):<6.1f} "
        f"{os.getloadavg()[0]:>5.1f}"
    )
    if dropped:
        after = sorted(c.dropped - result["started"] for c in clients if c.dropped is not None)
        print(f"   {dropped} connections ended on their own, {after[0]:.0f}-{after[-1]:.0f} s in")
    once = missing == twice == extra == 0 and len(expected) == result["logged"]
    fast = pct(delays, 0.5) <= P50_MS and pct(delays, 0.99) <= P99_MS
    print(f"   every client every point exactly once: {'MET' if once else 'MISSED'}")
    print(f"   delivery p50 <= {P50_MS:g} ms, p99 <= {P99_MS:g} ms: {'MET' if fast else 'MISSED'}")
    return once and fast


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="Socket.IO clients")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the loop logs")
    parser.add_argument("--rate", type=float, default=1000.0, help="points per second in all")
    parser.add_argument("--keys", type=int, default=1, help="scalars per Run.log call")
    parser.add_argument("--procs", type=int, default=5, help="processes the clients run in")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--produce", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--client-group", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client_group:
        base, run_id, count = args.client_group
        return client_group(base, int(run_id), int(count))
    if args.produce:
        db, seconds, rate, keys = args.produce
        return produce(db, float(seconds), float(rate), int(keys))
    print(f"Fan-out benchmark; python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="lernkurve-bench-") as tmp:
        ok = report(measure(args, Path(tmp)), args)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
