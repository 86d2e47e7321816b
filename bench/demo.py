"""A throwaway copy of the demo for the benchmarks (its own project name and ports, the repo's base image), and
`devstack up` run and timed line by line, with the edits the dev-loop benchmarks save."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

WAIT_S = 300

REPO = Path(__file__).resolve().parents[1]


def copy(tmp: Path, name: str, *, smoke: bool = True, live_update: bool = True) -> Path:
    root = tmp / name
    shutil.copytree(REPO / "stacks" / "demo", root / "stacks" / "demo", ignore=shutil.ignore_patterns("k8s"))
    shutil.copytree(REPO / "sink", root / "sink", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    text = (REPO / "devstack.toml").read_text().replace('name = "demo"', f'name = "{name}"', 1)
    if not live_update:
        text = re.sub(r"\[images\.relay\.live_update\].*?(?=\n\[)", "", text, flags=re.S)
    if not smoke:
        text = text.split("\n[[smoke]]", 1)[0]
    (root / "devstack.toml").write_text(text)
    return root


def environment(first_port: int) -> dict[str, str]:
    """Ports first_port (relay), +25 (sink SMTP), +80 (sink HTTP); the base image `make` recorded."""
    env = {**os.environ, "NO_COLOR": "1", "RELAY_PORT": str(first_port), "SINK_SMTP_PORT": str(first_port + 25),
           "SINK_HTTP_PORT": str(first_port + 80)}
    record = REPO / ".devstack" / "base-image"
    if "DEVSTACK_BASE_IMAGE" not in env and record.is_file():
        env["DEVSTACK_BASE_IMAGE"] = record.read_text().strip()
    return env


class Daemon:
    """`devstack up` (after the global `options`, with up's own `args`), each output line with the perf_counter
    time it arrived."""

    def __init__(self, root: Path, env: dict[str, str], *args: str, options: Sequence[str] = ()) -> None:
        self.lines: list[tuple[float, str]] = []
        self.process = subprocess.Popen([sys.executable, "-m", "devstack", *options, "up", *args], cwd=root, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def mark(self) -> int:
        """Where the output is now: `wait_for(..., after=mark)` looks only at what comes next."""
        return len(self.lines)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.perf_counter(), line.rstrip("\n")))

    def wait_for(self, pattern: str, after: int = 0, timeout: float = WAIT_S) -> float:
        """The perf_counter time of the first line from `after` on that matches `pattern`."""
        regex, deadline = re.compile(pattern), time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, line in self.lines[after:]:
                if regex.search(line):
                    return at
            time.sleep(0.01)
        raise TimeoutError(f"no {pattern!r}:\n" + "\n".join(text for _, text in self.lines[-20:]))

    def line(self, pattern: str, after: int = 0, timeout: float = WAIT_S) -> str:
        """The first line from `after` on that matches `pattern`."""
        at = self.wait_for(pattern, after, timeout)
        return next(text for when, text in self.lines[after:] if when == at and re.search(pattern, text))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)


@contextlib.contextmanager
def watching(root: Path, env: dict[str, str], options: Sequence[str] = (),
             args: Sequence[str] = ()) -> Iterator[Daemon]:
    """A daemon (`up` with `args`) past its first pass; stopped (Ctrl-C) on the way out."""
    daemon = Daemon(root, env, *args, options=options)
    try:
        daemon.wait_for("watching for changes", 0)
        yield daemon
    finally:
        daemon.stop()


def edit(relay_py: Path, n: int) -> None:
    """A change the relay shows (its greeting), different each time."""
    greet(relay_py, f"edit {n}")


def greet(relay_py: Path, text: str) -> None:
    """Save relay.py with `text` as the greeting it answers `GET /` with."""
    relay_py.write_text(re.sub(r'GREETING = "[^"]*"', f'GREETING = "{text}\\\\n"', relay_py.read_text(), count=1))


def measure_edits(daemon: Daemon, relay_py: Path, edits: int, pattern: str, start: int = 0) -> list[float]:
    """Seconds from each save of relay.py to the daemon's line matching `pattern`."""
    latencies = []
    for n in range(start, start + edits):
        mark = len(daemon.lines)
        saved = time.perf_counter()
        edit(relay_py, n)
        latencies.append(daemon.wait_for(pattern, mark) - saved)
    return latencies


# A live update's cycle line: "relay … synced … smoke ✓ 0.12s", the smoke tests' own time last.
LIVE = r"relay .*synced .*smoke ✓ (\d+(?:\.\d+)?)s"


def measure_live(daemon: Daemon, relay_py: Path, edits: int) -> tuple[list[float], list[float]]:
    """Seconds from each save of relay.py to its live update's cycle line with the smoke tests green, and to the
    files synced and the relay reloaded (the same less the smoke tests' own time, as the line gives it)."""
    totals, synced = [], []
    for n in range(edits):
        mark, saved = len(daemon.lines), time.perf_counter()
        edit(relay_py, n)
        at = daemon.wait_for(LIVE, mark)
        smoke = re.search(LIVE, daemon.line(LIVE, mark))
        assert smoke is not None
        totals.append(at - saved)
        synced.append(at - saved - float(smoke[1]))
    return totals, synced


def p95(values: list[float]) -> float:
    """The 95th percentile of `values` (nearest rank): the slowest but one of 20."""
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


class HandBuilds:
    """A floor's `docker build`s of one context. `warm` builds it once, untimed, so that the cache holds the steps
    a save leaves alone, as devstack's first build warmed BuildKit's; each timed build then runs what the save
    changed. The tags stay until `remove`: removing one takes the cached steps along (its untagged parents)."""

    def __init__(self, context: Path, env: dict[str, str], repository: str) -> None:
        self.context, self.env, self.repository = context, env, repository
        self.tags: list[str] = []

    def command(self, version: str) -> list[str]:
        """The build of the context as it is now, tagged `repository:floor<version>`."""
        self.tags.append(f"{self.repository}:floor{version}")
        base = self.env.get("DEVSTACK_BASE_IMAGE", "python:3.11-slim-bookworm")
        return ["docker", "build", "-q", "--build-arg", f"BASE={base}", "-t", self.tags[-1], str(self.context)]

    def warm(self) -> None:
        run(self.command("warm"), self.context, self.env)

    def remove(self) -> None:
        if self.tags:
            run(["docker", "rmi", "-f", *self.tags], self.context, self.env, check=False)


def run(command: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> None:
    subprocess.run(command, cwd=cwd, env=env, check=check, capture_output=True, timeout=WAIT_S)
