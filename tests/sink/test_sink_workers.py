"""Several worker processes on one port: the HTTP side speaks for all of them."""

from __future__ import annotations

import os
import signal
import smtplib
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sinktools import ProcessSink

MESSAGE = b"Subject: many\r\n\r\nbody\r\n"
WORKERS = 3


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def send(sink: ProcessSink, recipient: str) -> int:
    """One message on its own connection: the reply code to RCPT if refused, else to the dot."""
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.ehlo("client.test")
        client.mail("a@example.test")
        code, _ = client.rcpt(recipient)
        return code if code >= 400 else client.data(MESSAGE)[0]


@pytest.fixture
def fleet(process_sink: Callable[..., ProcessSink]) -> ProcessSink:
    return process_sink("--workers", str(WORKERS))


def test_stats_are_the_totals_of_all_workers(fleet: ProcessSink) -> None:
    assert [send(fleet, f"r{i}@d{i % 4}.test") for i in range(60)] == [250] * 60
    stats = fleet.stats()
    assert (stats["connections"], stats["messages"], stats["recipients"]) == (60, 60, 60)
    assert stats["domains"] == {"d0.test": 15, "d1.test": 15, "d2.test": 15, "d3.test": 15}
    assert (stats["workers"], stats["workers_alive"]) == (WORKERS, WORKERS)
    # The kernel spread the connections (SO_REUSEPORT); all of them at one worker: odds 3 in 3^60.
    assert sum(w["messages"] > 0 for w in stats["per_worker"]) >= 2
    assert sum(w["messages"] for w in stats["per_worker"]) == 60


def test_reset_and_faults_reach_every_worker(fleet: ProcessSink) -> None:
    for i in range(30):
        send(fleet, f"r{i}@example.test")
    assert fleet.http("POST", "/reset", b"")[0] == 200
    assert fleet.stats()["messages"] == 0

    assert fleet.http("PUT", "/faults", ["*@tempfail.test:451"])[0] == 200
    assert {send(fleet, f"r{i}@tempfail.test") for i in range(30)} == {451}
    _, document = fleet.http("GET", "/faults")
    assert document["rules"][0]["hits"] == 30

    assert fleet.http("DELETE", "/faults")[0] == 200
    assert {send(fleet, f"r{i}@tempfail.test") for i in range(30)} == {250}


def test_a_worker_that_dies_is_replaced_with_the_current_rules(fleet: ProcessSink) -> None:
    fleet.http("PUT", "/faults", ["*@tempfail.test:451"])
    victim = children(fleet.process.pid)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while fleet.http("GET", "/healthz")[0] != 503 and time.monotonic() < deadline:
        time.sleep(0.02)
    while fleet.http("GET", "/healthz")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fleet.http("GET", "/healthz") == (200, {"status": "ok", "workers": WORKERS, "workers_alive": WORKERS})
    assert victim not in children(fleet.process.pid)
    assert {send(fleet, f"r{i}@tempfail.test") for i in range(30)} == {451}


def test_sigterm_stops_the_workers_too(fleet: ProcessSink) -> None:
    workers = children(fleet.process.pid)
    assert len(workers) == WORKERS
    code, stderr = fleet.stop(signal.SIGTERM)
    assert code == 0
    assert "Traceback" not in stderr
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


def test_captured_messages_are_searched_and_fetched_across_workers(process_sink: Callable[..., ProcessSink]) -> None:
    sink = process_sink("--workers", str(WORKERS), "--capture", "100")
    for i in range(30):
        with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
            client.sendmail("a@example.test", [f"r{i}@example.test"],
                            f"Subject: n{i}\r\nMessage-ID: <n{i}@example.test>\r\n\r\nbody {i}\r\n")
    listed = sink.http("GET", "/captured")[1]["messages"]
    assert sorted(m["subject"] for m in listed) == sorted(f"n{i}" for i in range(30))
    assert len({m["id"][0] for m in listed}) >= 2  # kept by more than one worker
    found = sink.http("GET", "/captured?message_id=%3Cn17%40")[1]["messages"]
    assert [m["rcpt_tos"] for m in found] == [["r17@example.test"]]
    assert sink.http("GET", f"/captured/{found[0]['id']}")[1]["body"] == "body 17\r\n"
