"""GET /api/process: the daemon's own open fds, OS threads, asyncio tasks and memory, as a long run reads them to
find a leak. Served for real (tests/web/conftest.py: the server runs in a thread of this process)."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.web.conftest import TOKEN, Served


def process(served: Served) -> dict[str, Any]:
    transport = httpx.HTTPTransport(uds=str(served.socket))
    with httpx.Client(base_url="http://devstack", transport=transport, timeout=10) as client:
        answer = client.get("/api/process", headers={"authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_the_counts_are_the_daemons_own(served: Served) -> None:
    counts = process(served)
    assert counts["pid"] == os.getpid()
    assert counts["threads"] == len(os.listdir("/proc/self/task"))
    assert counts["tasks"] >= 1  # at least the request's own handler
    assert counts["rss_bytes"] > 10 * 2**20


def test_a_thread_and_a_task_show_by_name(served: Served) -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, name="a worker of this test")
    worker.start()
    try:
        answer = process(served)
    finally:
        stop.set()
        worker.join()
    assert "a worker of this test" in answer["thread_names"]
    assert len(answer["task_names"]) == answer["tasks"]


def test_an_open_file_shows(served: Served, tmp_path: Path) -> None:
    before = process(served)["fds"]
    with socket.socket() as held, (tmp_path / "held").open("w"):
        assert held.fileno() >= 0
        assert process(served)["fds"] == before + 2
    assert process(served)["fds"] == before
