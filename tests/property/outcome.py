"""What a parser may do with generated input: return, or refuse it as the CLI's exit 2 with the file and the
key or line. Anything else (another exception: a crash, exit 3), or no answer within the time (a hang), fails."""

from __future__ import annotations

import contextlib
import re
import signal
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from devstack.errors import ConfigError, DevstackError

T = TypeVar("T")
HANG_S = 20.0  # far above any parser's time on valid input; the deadline per example is 5 s
_LINE = re.compile(r":\d+(#\d+)?$|line \d+|#\d+")


class Hang(Exception):
    """The parser did not return within HANG_S."""


@contextlib.contextmanager
def bounded(seconds: float = HANG_S) -> Iterator[None]:
    def expired(signum: int, frame: Any) -> None:
        raise Hang(f"no answer within {seconds:.0f}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def loads_or_refused(parse: Callable[[], T], *files: str) -> T | ConfigError:
    """The parser's result, or the ConfigError it refused the input with, after checking that the error is one
    the CLI shows as a user's mistake (exit 2) and that it names one of `files` and a key or line."""
    try:
        with bounded():
            return parse()
    except DevstackError as err:
        assert isinstance(err, ConfigError), f"{type(err).__name__}, not a config error: {err}"
        assert err.exit_code == 2
        assert any(file in err.file for file in files), f"the error names none of {files}: {err}"
        assert err.key or _LINE.search(err.file) or _LINE.search(err.problem), f"no key or line: {err}"
        assert "Traceback" not in str(err)
        return err
