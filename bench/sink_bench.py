"""Throughput of devstack's sink against Postfix's smtp-sink, driven by smtp-source on 127.0.0.1.

    python3 bench/sink_bench.py [--messages 20000] [--sessions 20] [--size 1024] [--repeat 3] [--workers auto]

Two modes: one connection per message, and connection reuse (smtp-source -d). Every run checks
that the server received exactly what was sent (smtp-sink: its -c counters; devstack: /stats),
prints msg/s, the CPU each server and smtp-source used per message and how busy the machine's CPUs were
(all of them busy means no server could go faster here without using less CPU per message), and writes
JSON to bench/results/.
Bounded: a fixed number of messages per run and a time limit on every process.
Needs the postfix package (smtp-sink, smtp-source); as root, smtp-sink runs with -u nobody.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SMTP_SINK, SMTP_SOURCE = "/usr/sbin/smtp-sink", "/usr/sbin/smtp-source"
RUN_TIMEOUT = 300.0  # seconds for one smtp-source run; the whole benchmark stays bounded
MODES = {"per-connection": [], "reuse (-d)": ["-d"]}


@dataclasses.dataclass
class Run:
    server: str
    mode: str
    sent: int
    received: int
    seconds: float
    cpu_seconds: float
    source_cpu_seconds: float  # smtp-source's, the load generator sharing the CPUs
    machine_busy: float  # share of all CPUs' time not idle during the run, 0..1

    @property
    def rate(self) -> float:
        return self.sent / self.seconds

    @property
    def cpu_us_per_message(self) -> float:
        return self.cpu_seconds / self.sent * 1e6

    @property
    def source_cpu_us_per_message(self) -> float:
        return self.source_cpu_seconds / self.sent * 1e6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_times() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    # user nice system idle iowait irq softirq steal (guest time is already in user, so left out). Steal counts
    # as busy: CPU time this machine could not have.
    fields = [int(f) for f in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children (devstack's workers)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(stat.parent.name) == pid or int(fields[1]) == pid:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class Server:
    name: str
    process: subprocess.Popen[str]
    port: int

    def received(self) -> int:
        raise NotImplementedError

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class PostfixSink(Server):
    """smtp-sink with -c: it prints "sess=N quit=N mesg=N" as counts change."""

    name = "postfix smtp-sink"

    def __init__(self) -> None:
        self.port = free_port()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        command = [SMTP_SINK, "-c", *user, f"127.0.0.1:{self.port}", "1000"]
        # A file, not a pipe: -c prints a line per message, and a full pipe would stall the server.
        self.counters = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in received()
        self.process = subprocess.Popen(command, stdout=self.counters, stderr=subprocess.STDOUT, text=True)
        wait_for_port(self.port)

    def received(self) -> int:
        self.stop()  # its counters are complete once it has printed them and exited
        self.counters.seek(0)
        counts = re.findall(r"mesg=(\d+)", self.counters.read())
        self.counters.close()
        return int(counts[-1]) if counts else 0


class DevstackSink(Server):
    name = "devstack sink"

    def __init__(self, workers: str) -> None:
        env = os.environ | {"PYTHONPATH": str(ROOT / "sink")}
        command = [sys.executable, "-m", "devstack_sink", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"]
        self.process = subprocess.Popen(
            [*command, "--workers", workers], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        assert self.process.stdout is not None
        self.banner = self.process.stdout.readline().strip()  # devstack-sink: smtp H:P http H:P workers N ...
        words = self.banner.split()
        self.port, self.http = int(words[2].rpartition(":")[2]), int(words[4].rpartition(":")[2])

    def received(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/stats", timeout=10) as response:
            messages: int = json.load(response)["messages"]
        self.stop()
        return messages


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def run_once(server: Server, mode: str, args: argparse.Namespace) -> Run:
    source = [SMTP_SOURCE, "-s", str(args.sessions), "-m", str(args.messages), "-l", str(args.size)]
    cpu_before, source_before, ticks_before = cpu_seconds(server.process.pid), children_cpu(), cpu_times()
    started = time.perf_counter()
    done = subprocess.run([*source, *MODES[mode], f"127.0.0.1:{server.port}"], timeout=RUN_TIMEOUT, check=False)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds(server.process.pid) - cpu_before
    source_cpu = children_cpu() - source_before  # smtp-source was waited for; the servers are still running
    ticks = [after - before for after, before in zip(cpu_times(), ticks_before, strict=True)]
    received = server.received()
    if done.returncode != 0:
        print(f"  smtp-source exited with {done.returncode}", file=sys.stderr)
    return Run(server.name, mode, args.messages, received, seconds, cpu, source_cpu, ticks[0] / max(ticks[1], 1))


@contextlib.contextmanager
def fresh(server_kind: str, args: argparse.Namespace) -> Iterator[Server]:
    server: Server = PostfixSink() if server_kind == "postfix" else DevstackSink(args.workers)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.stop()


def benchmark(args: argparse.Namespace) -> list[Run]:
    runs = []
    for round_ in range(args.repeat):
        for mode in MODES:
            for kind in ("postfix", "devstack"):  # interleaved, so that drift hits both alike
                with fresh(kind, args) as server:
                    run = run_once(server, mode, args)
                runs.append(run)
                ok = "ok" if run.received == run.sent else f"MISMATCH received {run.received}"
                print(f"  round {round_ + 1} {run.server:18} {mode:15} {run.rate:9,.0f} msg/s  {ok}")
    return runs


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    rows = []
    for mode in MODES:
        postfix = [r for r in runs if r.mode == mode and r.server == PostfixSink.name]
        devstack = [r for r in runs if r.mode == mode and r.server == DevstackSink.name]
        p_rate, d_rate = (statistics.median(r.rate for r in rs) for rs in (postfix, devstack))
        rows.append(
            {
                "mode": mode,
                "postfix_msg_per_s": round(p_rate),
                "devstack_msg_per_s": round(d_rate),
                "ratio_devstack_to_postfix": round(d_rate / p_rate, 3),
                "postfix_cpu_us_per_msg": round(statistics.median(r.cpu_us_per_message for r in postfix)),
                "devstack_cpu_us_per_msg": round(statistics.median(r.cpu_us_per_message for r in devstack)),
                "source_cpu_us_per_msg": round(
                    statistics.median(r.source_cpu_us_per_message for r in runs if r.mode == mode)
                ),
                "postfix_machine_busy": round(statistics.median(r.machine_busy for r in postfix), 2),
                "devstack_machine_busy": round(statistics.median(r.machine_busy for r in devstack), 2),
                "received_equals_sent": all(r.received == r.sent for r in postfix + devstack),
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"\n{'mode':15} {'smtp-sink msg/s':>16} {'devstack msg/s':>15} {'ratio':>6} {'CPU µs/msg':>11} "
        f"{'source µs/msg':>14} {'CPUs busy':>10}  received==sent"
    )
    for row in rows:
        cpu = f"{row['postfix_cpu_us_per_msg']}/{row['devstack_cpu_us_per_msg']}"
        busy = f"{row['postfix_machine_busy']:.0%}/{row['devstack_machine_busy']:.0%}"
        print(
            f"{row['mode']:15} {row['postfix_msg_per_s']:16,} {row['devstack_msg_per_s']:15,} "
            f"{row['ratio_devstack_to_postfix']:6.2f} {cpu:>11} {row['source_cpu_us_per_msg']:14} {busy:>10}  "
            f"{row['received_equals_sent']}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20000, help="messages per run (default 20000)")
    parser.add_argument("--sessions", type=int, default=20, help="parallel smtp-source sessions (default 20)")
    parser.add_argument("--size", type=int, default=1024, help="message payload bytes (default 1024)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the table shows medians (default 3)")
    parser.add_argument("--workers", default="auto", help="devstack sink --workers (default auto)")
    args = parser.parse_args()
    if not (Path(SMTP_SINK).exists() and Path(SMTP_SOURCE).exists()):
        print("needs smtp-sink and smtp-source: apt-get install postfix", file=sys.stderr)
        return 2
    # A stopped benchmark stops its servers and smtp-source too (the finally blocks and subprocess.run's cleanup).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    print(f"{args.repeat} round(s) of {args.messages} messages, {args.sessions} sessions, {args.size} bytes each")
    runs = benchmark(args)
    rows = summarize(runs)
    print_table(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"sink-{time.strftime('%Y%m%d-%H%M%S')}.json"
    document = {"settings": vars(args), "cpus": os.cpu_count(), "summary": rows, "runs": [vars(r) for r in runs]}
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"\nwritten: {out.relative_to(ROOT)}")
    return 0 if all(row["received_equals_sent"] for row in rows) else 1


MODE_LABELS = {"per-connection": "one connection per message", "reuse (-d)": "connection reuse (`-d`)"}


# Results in the shape main() writes them (the numbers in docs/benchmarks.md), for tests/unit/test_bench.py.
EXAMPLE_RESULTS = {"sink-20261130-000000.json": {"summary": [
    {"mode": "per-connection", "postfix_msg_per_s": 6100, "devstack_msg_per_s": 3280,
     "ratio_devstack_to_postfix": 0.538, "postfix_cpu_us_per_msg": 136, "devstack_cpu_us_per_msg": 291,
     "source_cpu_us_per_msg": 170, "postfix_machine_busy": 0.92, "devstack_machine_busy": 0.78},
    {"mode": "reuse (-d)", "postfix_msg_per_s": 18710, "devstack_msg_per_s": 10408,
     "ratio_devstack_to_postfix": 0.556, "postfix_cpu_us_per_msg": 50, "devstack_cpu_us_per_msg": 117,
     "source_cpu_us_per_msg": 51, "postfix_machine_busy": 0.94, "devstack_machine_busy": 0.9}]}}


def readme_tables(results: Path) -> str:
    """The table of docs/benchmarks.md, from the newest results/sink-*.json."""
    runs = sorted(results.glob("sink-*.json"))
    if not runs:
        raise FileNotFoundError(f"no {results.name}/sink-*.json")
    lines = ["| mode | smtp-sink | devstack sink | ratio | CPU µs per message (smtp-sink / devstack / smtp-source) "
             "| CPUs busy (smtp-sink / devstack runs) |", "| --- | --- | --- | --- | --- | --- |"]
    for row in json.loads(runs[-1].read_text())["summary"]:
        lines.append(
            f"| {MODE_LABELS.get(row['mode'], row['mode'])} | {row['postfix_msg_per_s']:,} msg/s "
            f"| {row['devstack_msg_per_s']:,} msg/s | {row['ratio_devstack_to_postfix']:.2f}× "
            f"| {row['postfix_cpu_us_per_msg']} / {row['devstack_cpu_us_per_msg']} / {row['source_cpu_us_per_msg']} "
            f"| {row['postfix_machine_busy']:.0%} / {row['devstack_machine_busy']:.0%} |".replace("%", " %"))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
