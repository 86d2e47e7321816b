"""Readiness through watches, on the fake API server for what a real one cannot give on demand: a watch that
expires mid-wait, a grace period's exact timing, every workload kind's rollout rules. The failures a user meets
(an image that does not exist, a crash loop, an unschedulable pod, a failing probe) are provoked for real on the
test cluster: tests/realkube/test_failures_on_cluster.py."""

from __future__ import annotations

import time

import pytest
from fakekube_sim import SCHEDULER_MESSAGE
from k8s_env import Env

from devstack.errors import ReadinessError
from devstack.providers.kubernetes import health
from devstack.providers.kubernetes.provider import KubernetesProvider

IMAGES = {"relay": "relay:0123456789abcdef", "sink": "sink:fedcba9876543210"}


def deploy(env: Env, provider: KubernetesProvider | None = None, timeout_s: float = 10.0) -> float:
    provider = provider or env.provider()
    plan = provider.plan(IMAGES)
    provider.apply(plan)
    started = time.monotonic()
    provider.wait_ready(plan, timeout_s)
    return time.monotonic() - started


def failure(env: Env, timeout_s: float = 10.0) -> ReadinessError:
    with pytest.raises(ReadinessError) as caught:
        deploy(env, timeout_s=timeout_s)
    return caught.value


def test_ready_once_the_rollout_completes_woken_by_the_watch(env: Env) -> None:
    env.cluster.behaviour["relay"] = "slow"  # ContainerCreating, then ready 0.3 s later
    took = deploy(env)
    # The fallback re-check runs every 5 s: finishing well before proves a watch event woke the wait.
    assert took < 3.0
    watches = [r for r in env.kube.requests("GET") if r.query.get("watch") == ["true"]]
    assert {r.path for r in watches} >= {"/apis/apps/v1/namespaces/demo/deployments", "/api/v1/namespaces/demo/pods"}
    assert all(r.query["labelSelector"] == ["dev.devstack.project=demo"] for r in watches)
    assert all(r.query["resourceVersion"][0] for r in watches), "a watch must resume from the list's version"


def test_unschedulable_gets_a_grace_period_before_failing(env: Env) -> None:
    env.cluster.behaviour["relay"] = "Unschedulable"
    provider = KubernetesProvider(env.config())  # default grace: 20 s, longer than this wait
    with pytest.raises(ReadinessError) as caught:
        deploy(env, provider, timeout_s=1.5)
    assert "not ready after 2s" in caught.value.reason and SCHEDULER_MESSAGE in caught.value.reason


def test_jobs_complete_or_fail_with_the_controllers_reason(env: Env) -> None:
    job = """\
        apiVersion: batch/v1
        kind: Job
        metadata: {name: migrate}
        spec:
          template:
            spec:
              restartPolicy: Never
              containers: [{name: migrate, image: relay, command: [python3, migrate.py]}]
        """
    env.write(manifests={"job.yaml": job})
    assert deploy(env) < 3
    env.cluster.behaviour["migrate"] = "JobFailed"
    env.kube.store.delete(env.kube.store.kind_of("Job"), "demo", "migrate")
    error = failure(env)
    assert error.resource == "migrate" and "BackoffLimitExceeded" in error.reason


def test_statefulsets_and_daemonsets_roll_out(env: Env) -> None:
    manifests = {"set.yaml": """\
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: db}
        spec:
          serviceName: db
          replicas: 2
          selector: {matchLabels: {app: db}}
          template:
            metadata: {labels: {app: db}}
            spec: {containers: [{name: db, image: postgres:16}]}
          volumeClaimTemplates:
            - metadata: {name: data}
              spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
        ---
        apiVersion: apps/v1
        kind: DaemonSet
        metadata: {name: agent}
        spec:
          selector: {matchLabels: {app: agent}}
          template:
            metadata: {labels: {app: agent}}
            spec: {containers: [{name: agent, image: busybox}]}
        """}
    env.write(manifests=manifests)
    assert deploy(env) < 3
    statuses = {s.name: s for s in env.provider().status()}
    assert statuses["db"].ready and (statuses["db"].running, statuses["db"].desired) == (2, 2)
    assert statuses["agent"].ready


def test_status_reports_what_is_deployed(env: Env) -> None:
    env.cluster.behaviour["sink"] = "ImagePullBackOff"
    with pytest.raises(ReadinessError):
        deploy(env)
    statuses = {s.name: s for s in env.provider().status()}
    assert set(statuses) == {"relay", "sink"}
    assert statuses["relay"].ready and statuses["relay"].image == "relay:0123456789abcdef"
    assert not statuses["sink"].ready and "ImagePullBackOff" in statuses["sink"].message


def test_an_expired_watch_lists_again(env: Env) -> None:
    env.kube.store.expire_next_watch = True  # the first watch answers 410 Gone
    env.cluster.behaviour["relay"] = "slow"
    assert deploy(env) < 3
    lists = [r for r in env.kube.requests("GET", "/apis/apps/v1/namespaces/demo/deployments")
             if r.query.get("watch") != ["true"]]
    assert len(lists) >= 2, "after 410 Gone the informer must list again"


def deployment(generation: int = 2, **status: object) -> dict[str, object]:
    return {"kind": "Deployment", "metadata": {"name": "web", "generation": generation}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, **status}}


@pytest.mark.parametrize(("obj", "ready", "fatal"), [
    (deployment(), True, False),
    (deployment(generation=3), False, False),  # the controller has not seen the new spec yet
    (deployment(replicas=3), False, False),  # an old pod is still there
    (deployment(availableReplicas=1), False, False),
    (deployment(availableReplicas=0, conditions=[{"type": "Progressing", "status": "True",
                                                  "reason": "ProgressDeadlineExceeded"}]), False, True),
])
def test_rollout_rules(obj: dict[str, object], ready: bool, fatal: bool) -> None:
    from devstack.providers.kubernetes import health

    state = health.rollout(obj)
    assert (state.ready, state.fatal) == (ready, fatal)


def test_a_rollout_just_written_is_not_taken_as_done_from_the_cache(env: Env) -> None:
    # The watch tells of a write a moment after the server answered it: until it has, the cache shows the
    # workload as it was, rolled out and ready. Readiness waits for the watch rather than trusting that.
    provider = env.provider()
    deploy(env, provider)
    plan = provider.plan(IMAGES)
    with provider.cache.hold({("demo", "Deployment")}):
        (relay,) = [o for o in provider.cache.objects("demo", "Deployment") if o["metadata"]["name"] == "relay"]
    generation = int(relay["metadata"]["generation"])
    provider.cache.wrote({**relay, "metadata": {**relay["metadata"], "generation": generation + 1}})
    with pytest.raises(ReadinessError) as caught:
        provider.wait_ready(plan, 1.0)
    assert caught.value.resource == "relay" and "not seen by the watch yet" in caught.value.reason
    provider.cache.wrote({**relay, "metadata": {**relay["metadata"], "uid": "a-new-one"}})  # deleted, created anew
    with pytest.raises(ReadinessError):
        provider.wait_ready(plan, 0.5)
    provider.cache.wrote(relay)  # the watch has it as written: ready
    provider.wait_ready(plan, 5.0)


def backing_off(message: str) -> dict[str, object]:
    return {"metadata": {"name": "relay-1", "creationTimestamp": "2026-12-07T10:00:00Z"},
            "status": {"phase": "Pending", "containerStatuses": [
                {"name": "relay", "ready": False, "restartCount": 0,
                 "state": {"waiting": {"reason": "ImagePullBackOff", "message": message}}}]}}


@pytest.mark.parametrize(("message", "fatal"), [
    # The kubelet's words (Kubernetes 1.37, containerd 2) for an image its registry does not have:
    ('Back-off pulling image "127.0.0.1:5001/relay:1": ErrImagePull: rpc error: code = NotFound desc = failed to pull '
     'and unpack image "127.0.0.1:5001/relay:1": failed to resolve image: 127.0.0.1:5001/relay:1: not found', True),
    # ... and for a registry that was not there (stopped, restarting): the kubelet pulls again, so the wait goes on.
    ('Back-off pulling image "127.0.0.1:5001/relay:1": ErrImagePull: failed to pull and unpack image '
     '"127.0.0.1:5001/relay:1": failed to resolve reference "127.0.0.1:5001/relay:1": failed to do request: Head '
     '"http://127.0.0.1:5001/v2/relay/manifests/1": dial tcp 127.0.0.1:5001: connect: connection refused', False),
])
def test_a_pull_that_could_not_reach_the_registry_is_waited_out(message: str, fatal: bool) -> None:
    from devstack.providers.kubernetes import health

    state = health.diagnose([backing_off(message)], lambda pod: [], grace_s=20)
    assert state is not None and "ImagePullBackOff" in state.reason and state.fatal is fatal


def _running_pod(ready_at: str, started_at: str, **metadata: str) -> dict[str, object]:
    conditions = [{"type": "Ready", "status": "True", "lastTransitionTime": ready_at}] if ready_at else []
    return {"metadata": {"name": "relay-1", **metadata},
            "status": {"phase": "Running", "conditions": conditions,
                       "containerStatuses": [{"name": "relay", "state": {"running": {"startedAt": started_at}}}]}}


def test_ready_since_is_the_latest_ready_transition_or_container_start_of_the_pods_that_stay() -> None:
    deployment = {"kind": "Deployment", "metadata": {"name": "relay", "creationTimestamp": "2026-01-01T00:00:00Z"}}
    pods = [_running_pod("2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"),  # its container restarted later
            _running_pod("2026-01-01T00:01:30Z", "2026-01-01T00:01:00Z"),
            _running_pod("2026-01-01T00:09:00Z", "2026-01-01T00:09:00Z", deletionTimestamp="2026-01-01T00:09:01Z")]
    assert health.ready_since(deployment, pods) == "2026-01-01T00:02:00Z"
    assert health.ready_since(deployment, [*pods, _running_pod("", "2026-01-01T00:01:00Z")]) == ""  # one does not say
    assert health.ready_since(deployment, []) == "2026-01-01T00:00:00Z"  # nothing runs: its own last change


def _rolling(old_pod_deleted: bool, new_pod_ready: bool = True) -> tuple[dict, list[dict], list[dict]]:
    """A Deployment mid-rollout as the watches show it after its new pod turned ready: its status still counts the
    old replica (the controllers have not caught up), its ReplicaSets, its pods."""
    deployment = {"kind": "Deployment", "apiVersion": "apps/v1",
                  "metadata": {"name": "relay", "uid": "d1", "generation": 2,
                               "annotations": {health.REVISION: "2"}},
                  "spec": {"replicas": 1},
                  "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1}}
    owner = [{"kind": "Deployment", "name": "relay", "uid": "d1"}]
    sets = [{"metadata": {"name": f"relay-{h}", "ownerReferences": owner, "annotations": {health.REVISION: r}}}
            for h, r in (("aaa", "1"), ("bbb", "2"))]

    def pod(name: str, replica_set: str, ready: bool, deleted: bool) -> dict:
        meta = {"name": name, "ownerReferences": [{"kind": "ReplicaSet", "name": replica_set}],
                **({"deletionTimestamp": "2026-12-07T21:00:00Z"} if deleted else {})}
        return {"metadata": meta, "status": {"phase": "Running",
                                             "conditions": [{"type": "Ready", "status": str(ready)}]}}

    pods = [pod("relay-aaa-1", "relay-aaa", True, old_pod_deleted),
            pod("relay-bbb-1", "relay-bbb", new_pod_ready, False)]
    return deployment, sets, pods


def test_a_deployment_is_ready_by_its_pods_before_its_status_says_so() -> None:
    """The new ReplicaSet's pods ready and the old ones being deleted: rolled out, 0.1–0.2 s before the controllers
    bring the Deployment's status along (which alone says "not ready": two replicas, one updated)."""
    deployment, sets, pods = _rolling(old_pod_deleted=True)
    assert not health.rollout(deployment).ready
    assert health.assess(deployment, pods, lambda _pod: [], 20.0, sets).ready
    # Not before: an old pod still serving, the new one not ready, the new ReplicaSet not seen yet, a spec the
    # controller has not seen; nor with minReadySeconds or paused (then only the status can tell).
    for not_yet in (_rolling(old_pod_deleted=False), _rolling(old_pod_deleted=True, new_pod_ready=False)):
        assert not health.assess(not_yet[0], not_yet[2], lambda _pod: [], 20.0, not_yet[1]).ready
    assert not health.replaced(deployment, sets[:1], pods)
    assert not health.replaced({**deployment, "metadata": {**deployment["metadata"], "generation": 3}}, sets, pods)
    assert not health.replaced({**deployment, "spec": {"replicas": 1, "minReadySeconds": 5}}, sets, pods)
    assert not health.replaced({**deployment, "spec": {"replicas": 1, "paused": True}}, sets, pods)
    assert not health.replaced({**deployment, "spec": {"replicas": 2}}, sets, pods)
