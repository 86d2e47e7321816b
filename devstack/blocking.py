"""Blocking work (the Docker and Kubernetes SDKs, subprocesses) run off the event loop, and stopped when asked.

`asyncio.to_thread` cannot be cancelled: its thread runs on until the call returns, and the interpreter waits for
it at exit, so Ctrl-C during a readiness wait held until the wait timed out. Here each call gets its own thread
and a stop flag. Cancelling the awaiting task sets the flag; the blocking code notices it at its next `sleep`,
`wait` or `check` (readiness polls, build streams, subprocess waits all go through them) and unwinds with
`Interrupted`. A call stuck in a read that never checks is left behind after a short grace: its thread is a
daemon thread, so it never holds the process.

    await blocking.call(provider.wait_ready, plan, 60)     # in the engine
    blocking.sleep(POLL_S)                                 # in a provider: time.sleep that stops when asked

Work that lasts as long as its owner wants it (a watch, a followed log) is a `Worker`: a named thread with the
same stop flag, stopped and joined by its owner, so no thread outlives what started it.

    worker = blocking.Worker("watch pods", follow, interrupt=stream.close).start()
    worker.stop()                                          # flag set, blocked read interrupted, thread joined
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

from devstack.errors import Interrupted

P = ParamSpec("P")
T = TypeVar("T")
GRACE_S = 1.0  # how long a cancelled call may take to notice; Ctrl-C must end `up` within 2 s
_STEP_S = 0.1
_local = threading.local()
_log = logging.getLogger(__name__)


def _flag() -> threading.Event:
    flag = getattr(_local, "flag", None)
    return flag if flag is not None else _NEVER


_NEVER = threading.Event()  # outside `call` (a plain CLI command) nothing asks to stop but Ctrl-C itself


def check() -> None:
    """Raise Interrupted when the call this thread runs was cancelled."""
    if _flag().is_set():
        raise Interrupted


def sleep(seconds: float) -> None:
    """time.sleep that ends early, with Interrupted, when the call is cancelled."""
    if _flag().wait(seconds):
        raise Interrupted


def wait(event: threading.Event, timeout_s: float) -> bool:
    """event.wait(timeout_s) that notices cancellation within a tenth of a second."""
    remaining = timeout_s
    while remaining > 0:
        if event.wait(min(_STEP_S, remaining)):
            return True
        check()
        remaining -= _STEP_S
    return event.is_set()


def run(command: Sequence[str], *, stdin: str | None = None,
        timeout_s: float | None = None) -> subprocess.CompletedProcess[str]:
    """subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout_s) that kills the
    process when cancelled."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with subprocess.Popen(command, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        pending = stdin  # communicate takes the input on its first call only
        while True:
            try:
                out, err = process.communicate(pending, timeout=_STEP_S)
                return subprocess.CompletedProcess(command, process.returncode, out, err)
            except subprocess.TimeoutExpired:
                pending = None
                late = deadline is not None and time.monotonic() > deadline
                if _flag().is_set() or late:
                    process.kill()
                    process.communicate()
                    if late:
                        raise subprocess.TimeoutExpired(command, timeout_s or 0) from None
                    raise Interrupted from None


async def call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run fn in a thread of its own; cancelling the caller asks it to stop and waits GRACE_S for it at most."""
    return await _call(GRACE_S, fn, *args, **kwargs)


async def stream(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """As `call`, for an endless stream (logs): a cancelled one gets a short grace only, as nothing of its
    work is left to finish; a read stuck in the engine's socket is left behind."""
    return await _call(_STEP_S * 2, fn, *args, **kwargs)


async def _call(grace_s: float, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    flag = threading.Event()

    def deliver(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def target() -> None:
        _local.flag = flag
        try:
            result = fn(*args, **kwargs)
        except BaseException as err:  # every outcome goes back to the awaiting task, where it is raised
            failure = err
            _post(loop, deliver, lambda: future.set_exception(failure))
        else:
            _post(loop, deliver, lambda: future.set_result(result))

    thread = threading.Thread(target=target, name=f"blocking {getattr(fn, '__qualname__', fn)}", daemon=True)
    thread.start()
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        flag.set()
        await asyncio.wait([future], timeout=grace_s)
        if future.done() and not future.cancelled():
            future.exception()  # retrieved: the cancellation is what this call ends with
        raise
    finally:
        if future.done():
            thread.join(_STEP_S)  # it has posted its outcome and is ending: no thread outlives its call


def _post(loop: asyncio.AbstractEventLoop, deliver: Callable[[Callable[[], None]], None],
          outcome: Callable[[], None]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for this result any more
        loop.call_soon_threadsafe(deliver, outcome)


class Worker:
    """`fn` in a thread of its own until it returns or `stop()` is called. Inside it, `sleep`, `wait` and `check`
    raise Interrupted once stopped (the worker then ends quietly); `interrupt`, when given, is called by `stop` to
    wake a read that never checks (closing the stream it blocks on). `stop` joins the thread: its owner's close
    returns when the work has ended, not some time later."""

    def __init__(self, name: str, fn: Callable[[], None], *, interrupt: Callable[[], None] | None = None) -> None:
        self.name, self._fn, self._interrupt = name, fn, interrupt
        self._flag = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def stopping(self) -> bool:
        return self._flag.is_set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> Worker:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask it to stop, wake it, and wait up to `timeout_s` for its end (a read stuck past an interrupt is
        left to end on its own: the thread is a daemon thread, and it is said in the debug log)."""
        self._flag.set()
        if self._interrupt is not None:
            self._interrupt()
        if self._thread is threading.current_thread() or not self._thread.is_alive():
            return
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            _log.debug("%s did not end within %.1fs of its stop", self.name, timeout_s)

    def _run(self) -> None:
        _local.flag = self._flag
        with contextlib.suppress(Interrupted):  # stopped: the ending its owner asked for
            self._fn()
