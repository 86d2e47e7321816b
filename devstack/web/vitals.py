"""GET /api/process: what the daemon itself holds (open file descriptors, OS threads, asyncio tasks, resident
memory), read from /proc and the running loop. A dev loop runs all day: these are the numbers that grow when
something leaks, and what the long-run test and benchmark compare between an early cycle and the last."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from aiohttp import web

from devstack.web.backend import reply


def measure() -> dict[str, int | list[str]]:
    """The daemon's own counts now (called on its event loop, so the tasks are the daemon's), and the names of its
    Python threads and tasks: what grew, when a count grows."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    tasks = asyncio.all_tasks()
    return {"pid": os.getpid(), "fds": len(os.listdir("/proc/self/fd")), "threads": int(status["Threads"]),
            "tasks": len(tasks), "rss_bytes": int(status["VmRSS"].split()[0]) * 1024,
            "thread_names": sorted(thread.name for thread in threading.enumerate()),
            "task_names": sorted(task.get_name() for task in tasks)}


async def process(request: web.Request) -> web.Response:
    return reply(request, measure())
