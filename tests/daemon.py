"""`devstack up` run by a test: a subprocess whose output is collected line by line and waited on."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

WAIT_S = 180


class Daemon:
    """`devstack up` in the background, its output collected line by line."""

    def __init__(self, root: Path, env: dict[str, str], *args: str, options: Sequence[str] = ()) -> None:
        """`options`: devstack's global options (`-f`, `--kube-context`), before `up`; `args`: up's own."""
        self.lines: list[str] = []
        self.process = subprocess.Popen([sys.executable, "-m", "devstack", *options, "up", *args], cwd=root, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, after: int = 0, timeout: float = WAIT_S) -> str:
        """The first line from index `after` on that matches `pattern`."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                if regex.search(line):
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r}; output:\n" + "\n".join(self.lines[-40:]))

    def mark(self) -> int:
        return len(self.lines)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                return self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()
