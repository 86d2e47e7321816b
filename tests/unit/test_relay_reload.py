"""The demo relay's live update on a busy server: devstack copies in a new relay.py and sends SIGHUP, and the relay
must run the new code every time, also when the signal lands while its main thread hands a request to a worker
(a reload raised there was once caught as that request's error, and the old code served on). The relay runs as a
process of its own here, polled without pause by a client while it is reloaded again and again."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

RELAY_PY = Path(__file__).resolve().parents[2] / "stacks" / "demo" / "relay" / "relay.py"
RELOADS = 15


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, str]]:
    script = tmp_path / "relay.py"
    shutil.copy(RELAY_PY, script)
    port = _free_port()
    env = {**os.environ, "RELAY_LISTEN": f"127.0.0.1:{port}", "INJECT_PASSWORD": "not-a-secret"}
    process = subprocess.Popen([sys.executable, "-u", str(script)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        yield process, script, url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _greets(url: str, client: httpx.Client) -> str:
    try:
        return client.get(url, timeout=2).text
    except httpx.HTTPError:
        return ""  # between the old code and the new one: the socket is closed for a moment


def test_every_reload_runs_the_new_code_while_requests_keep_coming(
        relay: tuple[subprocess.Popen[bytes], Path, str]) -> None:
    process, script, url = relay
    stop = threading.Event()

    def poll() -> None:  # what makes the race likely: the main thread is busy accepting all the time
        with httpx.Client() as client:
            while not stop.is_set():
                _greets(url, client)

    with httpx.Client() as client:
        deadline = time.monotonic() + 10
        while _greets(url, client) != "devstack demo relay\n":
            assert time.monotonic() < deadline, "the relay did not start"
            time.sleep(0.05)
        pollers = [threading.Thread(target=poll) for _ in range(3)]
        for poller in pollers:
            poller.start()
        try:
            for n in range(RELOADS):
                greeting = f"reload {n}"
                script.write_text(re.sub(r'GREETING = "[^"]*"', f'GREETING = "{greeting}\\\\n"', script.read_text(),
                                         count=1))
                process.send_signal(signal.SIGHUP)
                deadline = time.monotonic() + 10
                while (said := _greets(url, client)) != f"{greeting}\n":
                    assert time.monotonic() < deadline, f"after reload {n} the relay still greets with {said!r}"
                    time.sleep(0.02)
        finally:
            stop.set()
            for poller in pollers:
                poller.join()
    assert process.poll() is None, "the relay must keep running through its reloads"
