"""GET /api/process: what the daemon itself holds (open file descriptors, OS threads, asyncio tasks, resident
memory), read from /proc and the running loop. A dev loop runs all day: these are the numbers that grow when
something leaks, and what the long-run test and benchmark compare between an early cycle and the last."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp import web

from devstack.web.backend import reply


def measure() -> dict[str, int]:
    """The daemon's own counts now (called on its event loop, so the tasks are the daemon's)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {"pid": os.getpid(), "fds": len(os.listdir("/proc/self/fd")), "threads": int(status["Threads"]),
            "tasks": len(asyncio.all_tasks()), "rss_bytes": int(status["VmRSS"].split()[0]) * 1024}


async def process(request: web.Request) -> web.Response:
    return reply(request, measure())
