"""Pod logs through the fake API server: the last lines of a workload, and each resource's lines as they come.
Following logs across a rollout is tested on the real test cluster (tests/realkube)."""

from __future__ import annotations

import pytest
from k8s_env import IMAGES, Env, background, collect, up

from devstack.errors import ReadinessError


def pods(env: Env, workload: str) -> list[str]:
    return [p["metadata"]["name"] for p in env.kube.store.list(env.kube.store.kind_of("Pod"), "demo")
            if p["metadata"]["name"].startswith(workload + "-")]


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
        assert [line.display() for line in collect(relay, 1)] == ["relay started"]
        assert [line.display() for line in collect(sink, 1)] == ["sink started"]
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


def test_a_container_not_started_yet_is_said_so_by_devstack_not_in_the_servers_words(env: Env) -> None:
    env.cluster.behaviour["sink"] = "ImagePullBackOff"
    provider = env.provider()
    plan = provider.plan(IMAGES)
    provider.apply(plan)
    with pytest.raises(ReadinessError):
        provider.wait_ready(plan, 10)
    (pod,) = pods(env, "sink")
    lines = provider.log_lines("sink", None, None)
    assert [(line.devstack, line.text) for line in lines] == \
        [(True, f"log of {pod}/sink: not started yet (ImagePullBackOff)")]
    assert not any("waiting to start" in line.text for line in lines)  # the server's words, not shown
