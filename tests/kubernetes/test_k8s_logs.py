"""Pod logs through the fake API server: the last lines of a workload, and each resource's lines as they come.
Following logs across a rollout is tested on the real test cluster (tests/realkube)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

from k8s_env import Env

from devstack.providers.base import LogLine

IMAGES = {"relay": "relay:0123456789abcdef", "sink": "sink:fedcba9876543210"}


def up(env: Env) -> None:
    provider = env.provider()
    plan = provider.plan(IMAGES)
    provider.apply(plan)
    provider.wait_ready(plan, 10)


def pods(env: Env, workload: str) -> list[str]:
    return [p["metadata"]["name"] for p in env.kube.store.list(env.kube.store.kind_of("Pod"), "demo")
            if p["metadata"]["name"].startswith(workload + "-")]


def background(lines: Iterator[LogLine]) -> queue.Queue[str]:
    """Drain a blocking generator in a thread, as the engine does."""
    received: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [received.put(line.display()) for line in lines], daemon=True,
                     name="drain").start()
    return received


def collect(received: queue.Queue[str], count: int, timeout_s: float = 5.0) -> list[str]:
    deadline, lines = time.monotonic() + timeout_s, []
    while len(lines) < count and time.monotonic() < deadline:
        try:
            lines.append(received.get(timeout=0.1))
        except queue.Empty:
            continue
    return lines


def test_logs_returns_the_last_lines_of_a_workload(env: Env) -> None:
    env.cluster.lines["relay"] = [f"line {n}" for n in range(30)]
    up(env)
    assert env.provider().logs("relay", 3) == ["line 27", "line 28", "line 29"]
    request = [r for r in env.kube.requests("GET") if r.path.endswith("/log")][-1]
    assert request.query["tailLines"] == ["3"] and request.query["container"] == ["relay"]


def test_follow_logs_streams_each_resource_of_the_managed_pods(env: Env) -> None:
    up(env)
    provider = env.provider()
    try:
        relay, sink = background(provider.follow_logs("relay")), background(provider.follow_logs("sink"))
        assert collect(relay, 1) == ["relay started"] and collect(sink, 1) == ["sink started"]
    finally:
        provider.close()  # ends both streams, as the daemon's stop does


def test_log_lines_carry_the_time_and_the_pod_and_container(env: Env) -> None:
    env.cluster.lines["relay"] = [f"line {n}" for n in range(30)]
    up(env)
    lines = env.provider().log_lines("relay", 2, None)
    assert [line.text for line in lines] == ["line 28", "line 29"]
    (pod,) = pods(env, "relay")
    assert {line.source for line in lines} == {f"{pod}/relay"}
    assert all(line.time.endswith("Z") and line.time[:2] == "20" for line in lines)
    assert {line.stream for line in lines} == {""}  # the API serves stdout and stderr as one stream
    request = [r for r in env.kube.requests("GET") if r.path.endswith("/log")][-1]
    assert request.query["timestamps"] == ["true"] and request.query["tailLines"] == ["2"]
