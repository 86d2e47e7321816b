"""Wait for a deploy's workloads to roll out, woken by watches rather than polling: informers keep the
workloads and the project's pods current, and every change re-assesses (health.assess). A fatal problem ends
the wait at once with its reason and the last log lines; otherwise the first workload still not ready is
reported when the time is up."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from devstack import blocking, labels
from devstack.errors import DevstackError, ReadinessError
from devstack.providers.kubernetes import health, logs
from devstack.providers.kubernetes.api import Api, Json
from devstack.providers.kubernetes.discovery import Discovery
from devstack.providers.kubernetes.informers import Informer
from devstack.providers.kubernetes.render import RESOURCE, Workload

API_VERSIONS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1",
                "Job": "batch/v1", "Pod": "v1"}
_LOG_LINES = 20


@dataclass(frozen=True)
class Options:
    unschedulable_grace_s: float = 20.0  # a fresh cluster's node may take that long to accept pods
    resync_s: float = 5.0  # re-assess without any event too: grace periods end silently


def wait(api: Api, discovery: Discovery, workloads: Sequence[Workload], project: str, timeout_s: float,
         options: Options | None = None) -> None:
    options = options or Options()
    changed = threading.Event()
    informers = _informers(api, discovery, workloads, project, lambda _kind, _obj: changed.set())
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            changed.clear()
            states = [(w, assess(api, w, informers, options.unschedulable_grace_s)) for w in workloads]
            pending = [(w, s) for w, s in states if not s.ready]
            if not pending:
                return
            fatal = next(((w, s) for w, s in pending if s.fatal), None)
            remaining = deadline - time.monotonic()
            if fatal is not None or remaining <= 0:
                workload, state = fatal or pending[0]
                reason = state.reason if fatal else f"not ready after {timeout_s:.0f}s: {state.reason}"
                raise ReadinessError(workload.resource, api.scrub(reason), evidence(api, workload, state))
            blocking.wait(changed, min(options.resync_s, remaining))  # Ctrl-C ends the wait within 0.1 s
    finally:
        for informer in informers.values():
            informer.close()


def assess(api: Api, workload: Workload, informers: dict[tuple[str, str], Informer], grace_s: float) -> health.State:
    objects = informers[(workload.namespace, workload.kind)].objects()
    obj = next((o for o in objects if o["metadata"]["name"] == workload.name), None)
    pods = [p for p in informers[(workload.namespace, "Pod")].objects() if owned(p, workload)]
    return health.assess(obj, pods, lambda pod: events(api, pod), grace_s)


def owned(pod: Json, workload: Workload) -> bool:
    if workload.kind == "Pod":
        return bool(pod["metadata"]["name"] == workload.name)
    return bool((pod["metadata"].get("labels") or {}).get(RESOURCE) == workload.name)


def events(api: Api, pod: Json) -> list[Json]:
    """The pod's events, oldest first (the scheduler's and the kubelet's messages)."""
    selector = f"involvedObject.kind=Pod,involvedObject.name={pod['metadata']['name']}"
    try:
        found = api.call("GET", f"/api/v1/namespaces/{pod['metadata']['namespace']}/events",
                         query=[("fieldSelector", selector)])
    except DevstackError:
        return []  # events only add detail; without them (RBAC) the pod's own status still speaks
    return sorted(found.get("items", []), key=_event_time)


def evidence(api: Api, workload: Workload, state: health.State) -> list[str]:
    """The last log lines that explain a failure: of the crashed instance when it crashed."""
    if not state.pod:
        return []
    if state.container:
        return logs.tail(api, workload.namespace, state.pod, state.container, _LOG_LINES, previous=state.previous)
    pod = api.get(f"/api/v1/namespaces/{workload.namespace}/pods/{state.pod}")
    return logs.of_pods(api, [pod], _LOG_LINES) if pod else []


def _informers(api: Api, discovery: Discovery, workloads: Sequence[Workload], project: str,
               on_change: Any) -> dict[tuple[str, str], Informer]:
    informers: dict[tuple[str, str], Informer] = {}
    selector = labels.selector(project)
    try:
        for key in sorted({(w.namespace, w.kind) for w in workloads} | {(w.namespace, "Pod") for w in workloads}):
            namespace, kind = key
            path = discovery.find(API_VERSIONS[kind], kind).collection(namespace)
            informers[key] = Informer(api, path, selector, on_change).start()
    except BaseException:
        for informer in informers.values():
            informer.close()
        raise
    return informers


def _event_time(event: Json) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp", ""))
