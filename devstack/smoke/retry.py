"""Smoke tests run right after a deploy or a live update, while a process may still be (re)starting. A
connection refused or reset before any answer is retried until the test's deadline; an answer, even a wrong
one, is final."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

T = TypeVar("T")
_PAUSE_S = 0.05
_TRANSIENT = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError)


async def until_answered(deadline: float, attempt: Callable[[], Awaitable[T]]) -> T:
    while True:
        try:
            return await attempt()
        except _TRANSIENT:
            if time.monotonic() + _PAUSE_S >= deadline:
                raise
            await asyncio.sleep(_PAUSE_S)
