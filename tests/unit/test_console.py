"""The console on a terminal that goes away: after a hang-up every write to it fails (EIO), and the daemon must go
on stopping instead of crashing on its last lines."""

from __future__ import annotations

import contextlib
import os
import pty

import pytest

from devstack.observe.console import Console


def test_a_closed_terminal_drops_the_output() -> None:
    master, slave = pty.openpty()
    terminal = os.fdopen(slave, "w")
    console = Console(terminal, tty=True)
    console.info("before")
    assert b"before" in os.read(master, 1024)
    os.close(master)  # the terminal window is closed
    with pytest.raises(OSError):  # what a plain write meets now
        os.write(slave, b"x")
    console.info("stopped watching")
    console.event("relay", "1 file changed")
    console.log_line("relay", "a log line")
    with console.live(lambda: "table"):
        console.error("interrupted")
    with contextlib.suppress(OSError):  # what is still buffered cannot be flushed either
        terminal.close()


def test_other_write_errors_are_not_hidden() -> None:
    class Full:
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

        def flush(self) -> None:
            pass

        def isatty(self) -> bool:
            return False

    console = Console(Full(), tty=False)  # type: ignore[arg-type]
    with pytest.raises(OSError, match="No space left"):
        console.info("a line")
