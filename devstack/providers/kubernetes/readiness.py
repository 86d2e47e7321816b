"""Wait for a deploy's workloads to roll out, woken by the watch cache rather than polling: every change of the
workloads or the project's pods re-assesses (health.assess) in the providers' one readiness loop. A fatal problem
ends the wait at once with its reason and the last log lines; otherwise the first workload still not ready is
reported when the time is up."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from devstack import blocking
from devstack.errors import DevstackError
from devstack.providers import readiness as ready
from devstack.providers.kubernetes import health, logs, workloads
from devstack.providers.kubernetes.api import Api, Json
from devstack.providers.kubernetes.render import Workload
from devstack.providers.kubernetes.watchcache import Key, WatchCache

_LOG_LINES = 20


@dataclass(frozen=True)
class Options:
    unschedulable_grace_s: float = 20.0  # a fresh cluster's node may take that long to accept pods
    resync_s: float = 5.0  # re-assess without any event too: grace periods end silently


def keys(workloads: Sequence[Workload]) -> set[Key]:
    """What readiness reads of the watch cache: each workload's kind and the pods of its namespace, and the
    ReplicaSets where Deployments are (their pods show a rollout done sooner than their status)."""
    return ({(w.namespace, w.kind) for w in workloads} | {(w.namespace, "Pod") for w in workloads}
            | {(w.namespace, "ReplicaSet") for w in workloads if w.kind == "Deployment"})


def wait(cache: WatchCache, workloads: Sequence[Workload], timeout_s: float, options: Options | None = None,
         settle_s: float = 0.0, seen: Callable[[], None] = lambda: None) -> None:
    """Until every workload is ready; `seen` is called each time the pods were looked at (they changed)."""
    options = options or Options()
    by_resource = {w.resource: w for w in workloads}
    with cache.hold(keys(workloads)), cache.changes() as changed:

        def assess_all() -> list[tuple[str, ready.State]]:
            changed.clear()  # before reading: a change while assessing wakes the next pause at once
            states = [(w.resource, assess(cache, w, options.unschedulable_grace_s)) for w in workloads]
            seen()
            return states

        def pause(remaining_s: float) -> None:
            blocking.wait(changed, min(options.resync_s, remaining_s))

        ready.wait(ready.Probe(assess_all, pause, lambda resource, state: evidence(
            cache.api, by_resource[resource], state)), timeout_s, settle_s)


def assess(cache: WatchCache, workload: Workload, grace_s: float) -> ready.State:
    """The workload's state as the cache has it (its reason scrubbed of dev secrets: it reaches the output)."""
    objects = cache.objects(workload.namespace, workload.kind)
    obj = next((o for o in objects if o["metadata"]["name"] == workload.name), None)
    if obj is not None and cache.behind(obj):
        return ready.State(False, "the change just written not seen by the watch yet")
    pods = [p for p in cache.objects(workload.namespace, "Pod") if workloads.owned(p, workload.kind, workload.name)]
    sets = cache.objects(workload.namespace, "ReplicaSet") if workload.kind == "Deployment" else []
    state = health.assess(obj, pods, lambda pod: events(cache.api, pod), grace_s, sets)
    since = health.ready_since(obj, pods) if obj is not None and state.ready else ""
    return dataclasses.replace(state, reason=cache.api.scrub(state.reason), ready_since=since)


def events(api: Api, pod: Json) -> list[Json]:
    """The pod's events, oldest first (the scheduler's and the kubelet's messages)."""
    selector = f"involvedObject.kind=Pod,involvedObject.name={pod['metadata']['name']}"
    try:
        found = api.call("GET", f"/api/v1/namespaces/{pod['metadata']['namespace']}/events",
                         query=[("fieldSelector", selector)])
    except DevstackError:
        return []  # events only add detail; without them (RBAC) the pod's own status still speaks
    return sorted(found.get("items", []), key=_event_time)


def evidence(api: Api, workload: Workload, state: ready.State) -> list[str]:
    """The last log lines that explain a failure: of the crashed instance when it crashed."""
    if not state.pod:
        return []
    if state.container:
        return logs.tail(api, workload.namespace, state.pod, state.container, _LOG_LINES, previous=state.previous)
    pod = api.get(f"/api/v1/namespaces/{workload.namespace}/pods/{state.pod}")
    return logs.of_pods(api, [pod], _LOG_LINES) if pod else []


def _event_time(event: Json) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp", ""))
