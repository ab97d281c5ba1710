#!/usr/bin/env python
"""Fan-out benchmark: many Socket.IO clients on one live run.

    python benchmarks/bench_fanout.py                   # 50 clients, 1,000 points/s, 60 s
    python benchmarks/bench_fanout.py --seconds 10 --clients 20

Goals (issue 9): every client gets every point exactly once; delivery p50/p99 reported, held
to the live-latency goal of issue 2 (p50 <= 60 ms, p99 <= 150 ms).

Processes, as in real use:
- the app: `python webserver.py --port 0` on a temp database;
- the training loop: a script with client.init in its own process, logging `--keys`
  scalars a step at `--rate` points/s in total;
- the clients: python-socketio Clients over real websockets, spread over `--procs`
  processes (50 browsers do not share one Python interpreter), each subscribed to the run
  before the loop starts. They are made light (see Client): as they come, 50 of them needed
  ~1.9 cores of this 2-core machine and fell seconds behind the stream by themselves
  (`--plain-clients` measures them so).
Delivery time of a point = when a client reads its message off the websocket - the wall_time
Run.log stamped on it (one machine, one clock). Exactly once: each client's point ids are
compared with the run's ids in the database once the loop has finished. Also reported: the
connections that ended on their own (and why), and the CPU seconds the server and the client
processes used while the loop logged: the server's per 1,000 messages delivered is the figure
that the machine's load does not move.
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
    from lernkurve.tracking import client

    run = client.init(name="bench-fanout", config={"lr": 0.1}, live=["lr"], db=db)
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


PARSED: dict[str, dict] = {}  # a message's text -> its payload, shared by a process's clients


def parsed(text: str) -> dict:
    message = PARSED.get(text)
    if message is None:
        if len(PARSED) > 10_000:
            PARSED.clear()
        message = PARSED[text] = json.loads(text[1:])[1]
    return message


class Client:
    """One python-socketio client; stamps each `metrics` message where it leaves the socket.

    Kept light, so that 50 of them on the server's own 2 cores measure the server, not
    themselves: websocket-client's pure-Python UTF-8 check of every text message is off (a
    browser does it natively), and `metrics` messages are taken off at the Engine.IO layer
    (python-socketio would start a thread per message and decode its JSON a second time);
    identical messages to the clients of one process are decoded once (`PARSED`).
    """

    def __init__(self, base: str, run_id: int, plain: bool = False) -> None:
        import socketio

        self.run_id = run_id
        self.ids: Counter = Counter()
        self.delays: list[float] = []  # ms from Run.log to reading the message
        self.messages = 0
        self.joined = float("inf")
        light = {} if plain else {"websocket_extra_options": {"skip_utf8_validation": True}}
        self.sio = socketio.Client(reconnection=False, **light)
        self.sio.on("metrics", lambda data: None)
        receive = self.sio.eio._receive_packet

        def stamp(packet):
            if isinstance(packet.data, str) and packet.data.startswith('2["metrics"'):
                read_at = time.time()
                message = json.loads(packet.data[1:])[1] if plain else parsed(packet.data)
                self._take(message, read_at)
                if not plain:
                    return
            receive(packet)

        self.sio.eio._receive_packet = stamp
        self.dropped: float | None = None  # when the connection ended on its own
        self.reason = None
        self.sio.on("disconnect", self._dropped)
        self.sio.connect(base, auth={"token": TOKEN}, transports=["websocket"], wait_timeout=20)
        # since_id 0: the points logged before it joined (the run's first system metrics) come
        # as a replay, the rest live; exactly once across the seam is part of the check.
        self.joined = time.time()  # points logged before this are a replay, not live
        answer = self.sio.call("subscribe", {"run_id": run_id, "since_id": 0}, timeout=20)
        assert answer == {"ok": True}, answer

    def _dropped(self, *reason) -> None:
        self.dropped, self.reason = time.time(), str(reason)

    def _take(self, message: dict, read_at: float) -> None:
        if message.get("run_id") != self.run_id:
            return
        self.messages += 1
        for point in message["points"]:
            self.ids[point[0]] += 1
            if point[4] >= self.joined:
                self.delays.append((read_at - point[4]) * 1000)

    def close(self) -> None:
        self.sio.disconnect()


def client_group(base: str, run_id: int, count: int, plain: bool) -> int:
    """Subprocess: `count` clients; on "expect N" wait until each has N points, print results."""
    # Many client threads in one interpreter: hand the GIL on quickly, so the instrument's
    # own thread switching does not add to the delays measured.
    sys.setswitchinterval(0.0005)
    clients = connect_all(base, run_id, count, plain)
    print("READY", flush=True)
    expected = int(sys.stdin.readline().split()[1])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(len(c.ids) < expected for c in clients):
        time.sleep(0.1)
    results = [
        {
            "ids": list(c.ids.items()),
            "delays": c.delays,
            "messages": c.messages,
            "dropped": c.dropped,
            "reason": c.reason,
        }
        for c in clients
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
        self.reason = data["reason"]
        self.messages = data["messages"]


def start_server(db: Path, env: dict, log: str) -> tuple[subprocess.Popen, str]:
    script = os.environ.get("BENCH_SERVER", str(ROOT / "webserver.py"))  # e.g. a profiling wrapper
    command = [sys.executable, "-u", script, "--port", "0"]
    with open(log, "w") as stderr:
        proc = subprocess.Popen(
            [*command, "--db", str(db), "--token", TOKEN],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    found = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=", proc.stdout.readline())
    if not found:
        proc.kill()
        raise RuntimeError("webserver.py printed no URL")
    return proc, found.group(1)


def connect_all(base: str, run_id: int, count: int, plain: bool) -> list[Client]:
    clients: list = [None] * count

    def connect(i: int) -> None:
        clients[i] = Client(base, run_id, plain)

    threads = [threading.Thread(target=connect, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if any(client is None for client in clients):
        raise RuntimeError("a client did not connect")
    return clients


def start_group(base: str, run_id: int, count: int, env: dict, plain: bool) -> subprocess.Popen:
    kind = "plain" if plain else "light"
    return subprocess.Popen(
        [sys.executable, __file__, "--client-group", base, str(run_id), str(count), kind],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # engineio says "packet queue is empty" on disconnect
        text=True,
    )


def send(proc: subprocess.Popen, line: str) -> None:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def run_points(db: Path, run_id: int) -> dict[int, str]:
    """Every point of the run, id -> key: the benchmark's keys and the run's own (system)."""
    from lernkurve.store import liteblocks

    with sqlite3.connect(db) as conn:
        liteblocks.register(conn)  # the metrics view reads blocks with Lernkurve's functions
        return dict(conn.execute("SELECT id, key FROM metrics WHERE run_id = ?", (run_id,)))


def measure(args, tmp: Path) -> dict:
    db = tmp / "bench.db"
    load_before = os.getloadavg()[0]
    env = {**os.environ, "LERNKURVE_DATA_DIR": str(tmp), "LERNKURVE_DB": str(db)}
    server, base = start_server(db, env, args.server_log)
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
        plain = args.plain_clients
        groups = [start_group(base, run_id, size, env, plain) for size in sizes if size]
        for group in groups:
            assert group.stdout.readline().split() == ["READY"], "a client group failed"
        watched = {"server": [server.pid], "clients": [g.pid for g in groups]}
        before = {name: sum(map(cpu_seconds, pids)) for name, pids in watched.items()}
        send(producer, "go")
        started = time.time()
        logged = int(producer.stdout.readline().split()[1])
        cpu = {name: sum(map(cpu_seconds, pids)) - before[name] for name, pids in watched.items()}
        elapsed = time.time() - started  # the window the CPU figures cover
        keys = run_points(db, run_id)
        expected = set(keys)
        stored = sum(re.fullmatch(r"k\d+", key) is not None for key in keys.values())
        for group in groups:
            send(group, f"expect {len(expected)}")
        clients = []
        for group in groups:
            words = group.stdout.readline().split(maxsplit=1)
            clients += [Result(data) for data in json.loads(words[1])]
        return {
            "load_before": load_before,
            "logged": logged,
            "stored": stored,
            "expected": expected,
            "keys": keys,
            "clients": clients,
            "started": started,
            "elapsed": elapsed,
            "cpu": cpu,
        }
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


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a live process has used so far (Linux; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        f"{result['stored']} of them stored, {len(expected)} points in the run in all"
    )
    print(
        f"   {'clients':>7} {'dropped':>7} {'points each':>11} {'missing':>8} {'twice':>6} "
        f"{'foreign':>8} "
        f"{'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} {'client p50s':>13} {'load':>9}"
    )
    load = f"{result['load_before']:.1f}>{os.getloadavg()[0]:.1f}"
    print(
        f"   {len(clients):>7} {dropped:>7} {len(expected):>11} {missing:>8} {twice:>6} {extra:>8} "
        f"{pct(delays, 0.5):>7.1f} {pct(delays, 0.9):>7.1f} {pct(delays, 0.99):>7.1f} "
        f"{max(delays):>7.1f} {min(per_client):>6.1f}-{max(per_client):<6.1f} {load:>9}"
    )
    if dropped:
        after = sorted(c.dropped - result["started"] for c in clients if c.dropped is not None)
        print(f"   {dropped} connections ended on their own, {after[0]:.0f}-{after[-1]:.0f} s in")
        reasons = Counter(c.reason for c in clients if c.dropped is not None)
        print(
            "   reasons the clients were given: "
            + ", ".join(f"{r} x{n}" for r, n in reasons.items())
        )
    lost = sorted(set().union(*(expected - set(c.ids) for c in clients)))
    if lost:
        named = [f"{i} {result['keys'][i]}" for i in lost[:3] + lost[-3:]]
        print(f"   {len(lost)} distinct points missed by some client: {', '.join(named)}")
    messages = sum(c.messages for c in clients)
    delivered = sum(sum(c.ids.values()) for c in clients)
    cpu, elapsed = result["cpu"], result["elapsed"]
    print(
        f"   CPU while the loop logged ({elapsed:.0f} s): server {cpu['server']:.1f} s "
        f"({cpu['server'] / elapsed:.0%} of one core; {1000 * cpu['server'] / max(messages, 1):.2f}"
        f" s per 1,000 messages delivered), clients {cpu['clients']:.1f} s "
        f"({cpu['clients'] / elapsed:.0%}); {messages} messages, {delivered} points delivered"
    )
    once = missing == twice == extra == 0 and result["stored"] == result["logged"]
    fast = pct(delays, 0.5) <= P50_MS and pct(delays, 0.99) <= P99_MS
    print(f"   every client every point exactly once: {'MET' if once else 'MISSED'}")
    print(f"   delivery p50 <= {P50_MS:g} ms, p99 <= {P99_MS:g} ms: {'MET' if fast else 'MISSED'}")
    print(f"   no connection ended on its own: {'MET' if not dropped else 'MISSED'}")
    return once and fast and not dropped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="Socket.IO clients")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the loop logs")
    parser.add_argument("--rate", type=float, default=1000.0, help="points per second in all")
    parser.add_argument("--keys", type=int, default=1, help="scalars per Run.log call")
    parser.add_argument("--procs", type=int, default=5, help="processes the clients run in")
    parser.add_argument("--server-log", default=os.devnull, help="file for the server's stderr")
    parser.add_argument(
        "--plain-clients",
        action="store_true",
        help="python-socketio clients as they come (UTF-8 check in Python, a thread per message)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--produce", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--client-group", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client_group:
        base, run_id, count, kind = args.client_group
        return client_group(base, int(run_id), int(count), kind == "plain")
    if args.produce:
        db, seconds, rate, keys = args.produce
        return produce(db, float(seconds), float(rate), int(keys))
    print(f"Fan-out benchmark; python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="lernkurve-bench-") as tmp:
        ok = report(measure(args, Path(tmp)), args)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
