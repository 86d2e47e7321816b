"""Everything devstack prints goes through here: rich on a terminal, plain timestamped lines otherwise
(CI logs, pipes). NO_COLOR is honoured (rich reads it).

This is the output boundary: every text is scrubbed of the dev secrets' values here (`secret_store.redact`),
whoever produced it (a service's log line, an engine's error, a smoke test's evidence), so recordings, which
take what the console prints, are scrubbed too."""

from __future__ import annotations

import errno
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO, cast

from rich.console import Console as RichConsole
from rich.console import RenderableType
from rich.live import Live
from rich.markup import escape
from rich.status import Status
from rich.text import Text

from devstack.config.secret_store import redact

_HISTORY = 500
_COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta")
_ANSI = {"cyan": "36", "magenta": "35", "green": "32", "yellow": "33", "blue": "34", "bright_red": "91",
         "bright_cyan": "96", "bright_magenta": "95"}


_GONE = (errno.EIO, errno.EPIPE)  # a closed terminal (EIO after its hang-up), a reader that went away


class _Stream:
    """The output stream, which may vanish under a running daemon: the terminal that ran `devstack up` is
    closed (its SIGHUP stops the daemon, whose last lines then have nowhere to go), or a pipe's reader exits.
    From then on output is dropped, and the daemon goes on stopping cleanly instead of crashing on a write."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            with self._dropped_when_gone():
                return self._stream.write(text)
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            with self._dropped_when_gone():
                self._stream.flush()

    @contextmanager
    def _dropped_when_gone(self) -> Iterator[None]:
        try:
            yield
        except OSError as err:
            if err.errno not in _GONE:
                raise
            self.gone = True

    def __getattr__(self, name: str) -> object:  # isatty, fileno, encoding: as the stream has them
        return getattr(self._stream, name)


class Console:
    def __init__(self, file: TextIO | None = None, *, tty: bool | None = None, record: bool = False) -> None:
        stream = cast(TextIO, _Stream(file or sys.stdout))
        self.tty = stream.isatty() if tty is None else tty
        self.rich = RichConsole(file=stream, force_terminal=self.tty, highlight=False, soft_wrap=True, record=record)
        self._stream = stream
        self._colour = self.tty and self.rich.color_system is not None and not self.rich.no_color
        self.on_close: list[Callable[[], None]] = []  # run when the session ends (recordings are saved there)
        self._lock = threading.Lock()
        self._status: Status | None = None
        self._live: Live | None = None  # the daemon's resource table, on a terminal
        self._current: dict[str, str] = {}
        self.width = 8  # resource name column
        # What devstack itself said (not the services' log lines), for snapshots: the last lines, plain, stamped.
        self.history: deque[str] = deque(maxlen=_HISTORY)

    def event(self, resource: str, message: str, *, ok: bool | None = None) -> None:
        """One line about one resource, e.g. `relay    built 1.8s`."""
        mark = {True: "[green]✓[/] ", False: "[red]✗[/] ", None: ""}[ok] if self.tty else ""
        self._print(f"[bold cyan]{escape(resource.ljust(self.width))}[/] {mark}{escape(redact(message))}")

    def info(self, message: str) -> None:
        self._print(escape(redact(message)))

    def error(self, message: str) -> None:
        self._print(f"[bold red]{escape(redact(message))}[/]")

    def write(self, text: str) -> None:
        """Text for a program to read (`--json` lines), as it is but for the secrets: no markup, no timestamp."""
        with self._lock:
            self._stream.write(redact(text))
            self._stream.flush()

    def output(self, resource: str, line: str) -> None:
        """A line of build or log output. On a terminal only the latest line per resource shows, under a spinner."""
        line = redact(line)
        if self._status is not None:
            with self._lock:
                self._current[resource] = line[:100]
                self._status.update(self._status_text())
            return
        self._print(f"[dim]{escape(resource.ljust(self.width))} | {escape(line)}[/]")

    def build_output(self, image: str, line: str) -> None:
        """A line of build output. Under the live table, which shows each build's state, it is not printed: a
        failed build shows its last lines in its error."""
        if self._live is None:
            self.output(image, line)

    def log_line(self, resource: str, line: str) -> None:
        """A line of a service's log, prefixed with the resource in its own colour.

        Written straight to the stream: a chatty service prints tens of thousands of lines a second, and
        rich's markup rendering manages a few thousand. Rich still draws it while a spinner is on screen or a
        recording needs everything to pass through rich."""
        colour = _COLOURS[sum(resource.encode()) % len(_COLOURS)]
        line = redact(line)
        if self._status is not None or self._live is not None or self.rich.record:
            self._print(f"[{colour}]{escape(resource.ljust(self.width))}[/] │ {escape(line)}", remember=False)
            return
        prefix = resource.ljust(self.width)
        if self._colour:
            prefix = f"\x1b[{_ANSI[colour]}m{prefix}\x1b[0m"
        stamp = "" if self.tty else time.strftime("%H:%M:%S ")
        with self._lock:
            self._stream.write(f"{stamp}{prefix} │ {line}\n")
            self._stream.flush()

    @contextmanager
    def live(self, render: Callable[[], RenderableType]) -> Iterator[None]:
        """On a terminal, keep `render()` drawn at the bottom, refreshed four times a second; everything
        printed meanwhile scrolls above it."""
        if not self.tty:
            yield
            return
        with Live(get_renderable=render, console=self.rich, refresh_per_second=4) as live:
            self._live = live
            try:
                yield
            finally:
                self._live = None

    @contextmanager
    def progress(self, title: str) -> Iterator[None]:
        # Under the live table (which shows build states) no second live display may start: rich allows one.
        if not self.tty or self._live is not None:
            yield
            return
        self._current = {}
        with self.rich.status(escape(redact(title))) as status:
            self._status = status
            try:
                yield
            finally:
                self._status = None

    def _status_text(self) -> str:
        return "\n".join(f"{escape(name.ljust(self.width))} {escape(text)}" for name, text in self._current.items())

    def _print(self, markup: str, *, remember: bool = True) -> None:
        prefix = "" if self.tty else time.strftime("%H:%M:%S ")
        with self._lock:
            self.rich.print(prefix + markup)
            if remember:
                self.history.append(time.strftime("%H:%M:%S ") + Text.from_markup(markup).plain)
