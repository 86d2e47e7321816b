"""Run a coroutine by hand until it first has to wait; let a task await the rest.

Most SMTP commands never wait: the reply goes into the transport's buffer and the hooks decide at
once. Driving such a coroutine with send() from a protocol callback costs a function call. Running it
in a task, as aiosmtpd does, costs a Task per connection, and a Future and a trip through the event
loop per command, which on a null sink is most of the work.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any


class Suspended:
    """A coroutine stopped at its first wait. Awaiting this (once, in a task) finishes it."""

    def __init__(self, coroutine: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self.coroutine = coroutine
        self.yielded = yielded  # what it is waiting for (a future), passed on to the task as is

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, waiting_for = self.coroutine, self.yielded
        while True:
            try:
                try:
                    sent = yield waiting_for
                except BaseException as error:  # what the awaited future raised, or a cancel
                    waiting_for = coroutine.throw(error)
                else:
                    waiting_for = coroutine.send(sent)
            except StopIteration as done:
                return done.value


def start(coroutine: Coroutine[Any, Any, Any]) -> Suspended | None:
    """Run `coroutine` until it finishes (None) or first waits. Its exceptions propagate."""
    try:
        yielded = coroutine.send(None)
    except StopIteration:
        return None
    return Suspended(coroutine, yielded)
