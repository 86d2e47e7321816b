"""The watch cache on the fake API server: one watch of each collection however many readers there are (the change
wait, status, log followers, the forwards' pod lookup), nothing left running once the provider closes (the leak
check of conftest.py), and log followers that follow pods as they come and go without passing what the kubelet
says of a stream off as a line of the service. Following a real rollout is tested on the test cluster
(tests/realkube)."""

from __future__ import annotations

import asyncio
import threading

from k8s_env import Env, background, collect, up

from devstack.providers.kubernetes.provider import KubernetesProvider

FORWARD = """
[[forwards]]
resource = "relay"
local = 18000
remote = 8000
"""


async def connected_pod(provider: KubernetesProvider) -> str:
    """The pod a new forwarded connection reaches."""
    channel = await provider.connect(provider.relayed()[0])
    await channel.close()
    return channel.pod


def watches(env: Env, plural: str, since: int) -> int:
    return sum(1 for r in env.kube.store.requests[since:]
               if r.method == "GET" and r.path.endswith(f"/{plural}") and r.query.get("watch") == ["true"])


def lists(env: Env, since: int) -> list[str]:
    """The collections listed (GET without watch), of workloads and pods, from request `since` on."""
    return [r.path for r in env.kube.store.requests[since:] if r.method == "GET" and "watch" not in r.query
            and r.path.rpartition("/")[2] in ("pods", "deployments", "services", "statefulsets")]


def test_the_change_wait_status_log_followers_and_forwards_share_one_watch_of_the_pods(env: Env) -> None:
    provider = up(env, FORWARD)
    try:
        since = len(env.kube.store.requests)
        provider.wait_for_change(0.1)  # the daemon's observer: from now on the project's objects are watched
        relay, sink = background(provider.follow_logs("relay")), background(provider.follow_logs("sink"))
        assert [line.text for line in collect(relay, 1) + collect(sink, 1)] == ["relay started", "sink started"]
        assert all(row.ready for row in provider.status()) and len(provider.status()) == 2
        assert asyncio.run(connected_pod(provider)).startswith("relay-")
        # One watch of the pods and one of the Deployments serve them all; the forwards add one of the Services.
        assert (watches(env, "pods", since), watches(env, "deployments", since)) == (1, 1)
        assert watches(env, "services", since) == 1
        # Only the watches' own first lists: status and the pod lookup asked the server for nothing.
        assert sorted(lists(env, since)) == ["/api/v1/namespaces/demo/pods", "/api/v1/namespaces/demo/services",
                                             "/apis/apps/v1/namespaces/demo/deployments"]
    finally:
        provider.close()  # every watch and stream ends with it (the leak check would say otherwise)


def test_a_command_that_runs_once_reads_without_starting_a_watch(env: Env) -> None:
    provider = up(env)
    since = len(env.kube.store.requests)
    assert [row.name for row in provider.status()] == ["relay", "sink"]
    assert provider.logs("relay") == ["relay started"]
    assert watches(env, "pods", since) == 0 and threading.active_count() >= 1  # nothing left for close to end


def test_a_follower_goes_on_to_the_new_pod_and_drops_the_kubelets_word_for_the_old_one(env: Env) -> None:
    provider = up(env)
    try:
        relay = background(provider.follow_logs("relay"))
        (first,) = collect(relay, 1)
        (new_pod,) = env.cluster.replace_pods("relay", "demo")
        # The old pod's stream ends with the kubelet's NotFound error: a pod going away, nothing to show.
        (second,) = collect(relay, 1)
        assert (second.text, second.source, second.devstack) == ("relay started", f"{new_pod}/relay", False)
        assert first.source != second.source
        assert collect(relay, 1, timeout_s=1.5) == []
    finally:
        provider.close()


def test_a_stream_that_ends_while_its_container_runs_is_resumed_without_repeating_a_line(env: Env) -> None:
    provider = up(env)
    env.kube.store.cut_log_follows = 1  # the next followed log ends after its backlog: a broken connection
    try:
        relay = background(provider.follow_logs("relay"))
        assert [line.text for line in collect(relay, 1)] == ["relay started"]
        (pod,) = [p["metadata"]["name"] for p in env.kube.store.list(env.kube.store.kind_of("Pod"), "demo")
                  if p["metadata"]["name"].startswith("relay-")]
        env.kube.store.add_log("demo", pod, "relay", "after the break")
        assert [line.text for line in collect(relay, 1)] == ["after the break"]
        assert collect(relay, 1, timeout_s=1.5) == []  # the resume skipped what was shown already
        resumed = [r for r in env.kube.store.requests if r.path.endswith(f"/{pod}/log")][-1]
        assert "sinceTime" in resumed.query and "tailLines" not in resumed.query
    finally:
        provider.close()
