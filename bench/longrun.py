"""The long run: a running `devstack up` of the demo (either profile) driven through cycles of what a day of work
does to it, with its forwards used between cycles, for bench/longrun_bench.py (as many cycles as it is given) and
`assert_flat`, the 30-cycle check of the same goals a test can call.

A cycle is one of, in turn:
    live      save relay.py (a new greeting): synced into the running container, smoke green
    live      another save, so that most cycles are the commonest edit
    rebuild   save the relay's Dockerfile (a comment): built, redeployed, smoke green
    config    change a value in devstack.toml (the inject smoke test's timeout): reloaded
    typo      a misspelt key in devstack.toml (refused, the stack keeps running), then the fix (reloaded)

Twice in a run (a third and two thirds of the way) the engine restarts after the cycle: dockerd on swarm, the
kube-apiserver on Kubernetes (Target.restart), and the daemon must come back to all of the below by itself.

After each cycle every forward answers (HTTP, SMTP), the relay greets with the last save (a save lost shows there)
and a request to the relay shows in the daemon's output (its logs are still followed: after a reload, an engine
restart, a rollout). At the end, each save produced exactly one sync or build line: a save run twice shows there.
The daemon's own open fds, threads, asyncio tasks and RSS come from its API (GET /api/process).
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from demo import Daemon, greet  # bench/demo.py
from restarts import eventually  # bench/restarts.py

from devstack.config import loader
from devstack.web import control

KINDS = ("live", "live", "rebuild", "config", "typo")
SETTLE_S = 0.5  # between the readings of the daemon's counts: the least of READINGS is taken (transient ones)
# Over 5 s: a forward's tunnel to a pod that went is retired after 2 s, a log stream ends with its pod; what is
# still open after that at every reading is held.
READINGS = 10
GREETED_S = 60  # a live update reaches every replica within this
LOGGED_S = 30  # a request to the relay shows in the daemon's output within this (its logs are followed)
CYCLE_WAIT_S = 300
RESTART_WAIT_S = 300  # after an engine restart: until the forwards answer and the relay's logs are followed again
# The cycle line of a save (not the build's own output, `relay | Successfully built`): a live update's says
# "synced"; a rebuild's goes on to "built" on swarm, to the smoke tests on Kubernetes (its push and rollout are on
# the project's line).
SYNCED, BUILT = r"relay .*\d+ files? changed → synced", r"relay .*\d+ files? changed → (?!synced)"


@dataclass(frozen=True)
class Vitals:
    fds: int
    threads: int
    tasks: int
    rss_bytes: int
    files: tuple[tuple[str, int], ...] = ()  # what the fds are, by kind (a TCP peer, unix, pipe, ...): for a report
    threads_named: tuple[str, ...] = ()  # the Python threads and asyncio tasks of the reading picked: for a report
    tasks_named: tuple[str, ...] = ()

    def line(self) -> str:
        return f"fds {self.fds}, threads {self.threads}, tasks {self.tasks}, RSS {self.rss_bytes / 2**20:.1f} MiB"


@dataclass(frozen=True)
class Target:
    """The project a run drives: its devstack.toml, its relay's folder, the environment `up` runs with, and the
    local ports devstack's forwards (or the engine) serve: HTTP ones by name, and the sink's SMTP port."""

    config: Path
    relay: Path
    env: dict[str, str]
    http: dict[str, str]  # name → URL answered with 200 (the relay's greeting is checked separately)
    smtp_port: int
    relay_url: str
    # Stops the engine (dockerd, the kube-apiserver) and starts it again; returns once it answers.
    restart: Callable[[], None] | None = None


@dataclass
class LongRun:
    target: Target
    daemon: Daemon
    saves: dict[str, int] = field(default_factory=lambda: {"live": 0, "rebuild": 0})
    greeting: str = ""
    start: int = 0  # the daemon's output line where the cycles began
    restart_at: frozenset[int] = frozenset()  # the cycles after which the engine restarts
    restarts: int = 0

    def begin(self) -> None:
        self.daemon.line("watching for changes", 0, timeout=CYCLE_WAIT_S)  # after the first pass's smoke tests
        self.start = self.daemon.mark()
        self.use_forwards()

    def cycle(self, n: int) -> str:
        """Cycle number `n` (from 1); its kind."""
        kind = KINDS[(n - 1) % len(KINDS)]
        {"live": self._live, "rebuild": self._rebuild, "config": self._config, "typo": self._typo}[kind](n)
        self.use_forwards(n)
        if n in self.restart_at and self.target.restart is not None:
            self.target.restart()
            self.restarts += 1
            eventually(lambda: self._answering(n), "everything answers after the engine's restart", RESTART_WAIT_S)
            return f"{kind}, engine restarted"
        return kind

    def _live(self, n: int) -> None:
        mark = self.daemon.mark()
        self.greeting = f"cycle {n}"
        greet(self.target.relay / "relay.py", self.greeting)
        self.saves["live"] += 1
        line = self.daemon.line(SYNCED, mark, timeout=CYCLE_WAIT_S)
        assert "smoke ✓" in line, self._tail()

    def _rebuild(self, n: int) -> None:
        mark = self.daemon.mark()
        dockerfile = self.target.relay / "Dockerfile"
        kept = re.sub(r"\n# cycle \d+\n$", "\n", dockerfile.read_text())
        dockerfile.write_text(f"{kept}# cycle {n}\n")
        self.saves["rebuild"] += 1
        line = self.daemon.line(BUILT, mark, timeout=CYCLE_WAIT_S)
        assert "smoke ✓" in line, self._tail()

    def _config(self, n: int) -> None:
        mark = self.daemon.mark()
        text = self.target.config.read_text()
        changed = re.sub(r"\ntimeout = \d+\n", f"\ntimeout = {20 + n % 2 + 1}\n", text, count=1)
        assert changed != text, "the demo's inject smoke test has no `timeout` to change"
        self.target.config.write_text(changed)
        self.daemon.line(r"config reloaded", mark, timeout=CYCLE_WAIT_S)

    def _typo(self, n: int) -> None:
        good = self.target.config.read_text()
        mark = self.daemon.mark()
        self.target.config.write_text(good.replace("[images.relay]\n", "[images.relay]\ncontxt = 1\n", 1))
        line = self.daemon.line("config not reloaded", mark, timeout=CYCLE_WAIT_S)
        assert "contxt" in line, line
        mark = self.daemon.mark()
        self.target.config.write_text(good)
        self.daemon.line(r"config reloaded", mark, timeout=CYCLE_WAIT_S)

    def _tail(self) -> str:
        return "\n".join(text for _, text in self.daemon.lines[-30:])

    def use_forwards(self, n: int = 0) -> None:
        """Every forward answers; the relay greets with the last save (eventually: a live update may still be
        on its way to a second replica); a request to the relay shows in the daemon's output."""
        for name, url in self.target.http.items():
            assert _get(url)[0] == 200, name
        with smtplib.SMTP("127.0.0.1", self.target.smtp_port, timeout=30) as smtp:
            assert smtp.noop()[0] == 250
        if self.greeting:
            eventually(lambda: _get(self.target.relay_url)[1] == f"{self.greeting}\n",
                       lambda: f"the relay greets with the last save, {self.greeting!r} (it greets with "
                               f"{_get(self.target.relay_url)[1]!r}); the daemon's last lines:\n{self._tail()}",
                       GREETED_S)
        mark, path = self.daemon.mark(), f"/long-run-{n}-{time.monotonic_ns()}"
        with contextlib.suppress(urllib.error.HTTPError):  # the relay answers 404 for this path, and logs it
            _get(f"{self.target.relay_url.rstrip('/')}{path}")
        self.daemon.line(rf"relay .*GET {re.escape(path)} ", mark, timeout=LOGGED_S)

    def _answering(self, n: int) -> bool:
        try:
            self.use_forwards(n)
        except (OSError, AssertionError):
            return False
        return True

    def vitals(self, *, most: bool = False) -> Vitals:
        """The daemon's counts over READINGS readings SETTLE_S apart: the least of each, so that a task or
        connection just ending is not taken for a leak (a leak stays in every reading); with `most`, the greatest,
        for the early reading a later one is held to (a worker stopped for a moment, as when a reload replaces the
        provider, must not make the baseline low)."""
        pick = max if most else min
        config = loader.load(self.target.config, environ=self.target.env)
        endpoint = control.find(config)
        assert endpoint is not None, "no running daemon"
        readings = []
        for _ in range(READINGS):
            time.sleep(SETTLE_S)
            readings.append(control.call(endpoint, "GET", "/api/process"))
        fds, threads, tasks, rss = (pick(int(r[key]) for r in readings) for key in ("fds", "threads", "tasks",
                                                                                    "rss_bytes"))
        named = pick(readings, key=lambda r: int(r["threads"]))
        return Vitals(fds, threads, tasks, rss, files=tuple(sorted(open_files(endpoint.pid).items())),
                      threads_named=tuple(named.get("thread_names", ())),
                      tasks_named=tuple(named.get("task_names", ())))

    def counted(self) -> dict[str, int]:
        """Lines since the cycles began: how many syncs and builds of the relay the daemon reported."""
        lines = [text for _, text in self.daemon.lines[self.start:]]
        return {"live": sum(1 for line in lines if re.search(SYNCED, line)),
                "rebuild": sum(1 for line in lines if re.search(BUILT, line))}


def open_files(pid: int) -> dict[str, int]:
    """The process's open fds by kind: "tcp PEER" for a TCP socket (its remote address), "socket" for another,
    "pipe", "anon_inode:[eventpoll]", or the file's path."""
    peers = _tcp_peers()
    kinds: dict[str, int] = {}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        inode = re.fullmatch(r"socket:\[(\d+)\]", target)
        kind = (f"tcp {peers[inode[1]]}" if inode[1] in peers else "socket") if inode else re.sub(r":\[\d+\]$", "",
                                                                                                   target)
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def _tcp_peers() -> dict[str, str]:
    """Socket inode → the remote address of each TCP socket on this machine (IPv4; 0.0.0.0:0 for a listener)."""
    peers = {}
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        address, port = fields[2].split(":")
        host = ".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0))
        peers[fields[9]] = f"{host}:{int(port, 16)}"
    return peers


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return int(response.status), str(response.read().decode())


RSS_SLACK = 20 * 2**20  # bytes: the goal allows RSS to move this much between the early cycle and the last


def restart_points(cycles: int) -> frozenset[int]:
    """The two cycles after which the engine restarts: a third and two thirds of the way."""
    return frozenset({cycles // 3, 2 * cycles // 3}) - {0}


def assert_flat(target: Target, daemon: Daemon, cycles: int, early_at: int, where: str) -> None:
    """Drive `cycles` cycles, the engine restarted twice among them (when the target can); the daemon's fds,
    threads and tasks at the last are no more than at cycle `early_at` (a leak grows; a worker still ending at the
    early reading may make that one higher), its RSS within RSS_SLACK; every save was synced or built once; every
    forward answers and the relay's logs are followed; the daemon runs on."""
    run = LongRun(target, daemon, restart_at=restart_points(cycles))
    run.begin()
    readings: dict[int, Vitals] = {}
    for n in range(1, cycles + 1):
        print(f"{where}, cycle {n}: {run.cycle(n)}", flush=True)
        if n in (early_at, cycles):
            readings[n] = run.vitals(most=n == early_at)
    early, last = readings[early_at], readings[cycles]
    print(f"\n{where}, cycle {early_at}: {early.line()}\n{where}, cycle {cycles}: {last.line()}")
    grown = {kind: n - dict(early.files).get(kind, 0) for kind, n in last.files if n > dict(early.files).get(kind, 0)}
    assert last.fds <= early.fds and last.threads <= early.threads and last.tasks <= early.tasks, (early, last, grown)
    assert abs(last.rss_bytes - early.rss_bytes) <= RSS_SLACK, (early, last)
    assert run.counted() == run.saves
    assert run.restarts == (len(run.restart_at) if target.restart else 0)
    run.use_forwards()
    assert daemon.process.poll() is None
