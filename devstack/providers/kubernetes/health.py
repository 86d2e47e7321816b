"""Is a workload rolled out, and if not, why? Pure functions over the objects the API returns.

Rolled out means what `kubectl rollout status` means: the controller saw the latest spec and enough updated
replicas are available (Deployments, ReplicaSets), ready (StatefulSets) or scheduled and available
(DaemonSets); a Job has completed; a Pod runs and is ready. A Deployment's pods tell it sooner than its status
(`replaced`).

When it is not, the pods say why. Some reasons end the wait at once, because waiting longer cannot help:
an image that cannot be pulled (but not a registry that could not be reached: the kubelet pulls again), a
container that keeps crashing, a pod no node can take (after a grace period: a fresh cluster's node may still be
coming up). A failing probe is reported when the wait times out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from devstack.formats import timestamps
from devstack.providers.readiness import State

Json = dict[str, Any]
Events = Callable[[Json], list[Json]]  # a pod → its events, newest last

REVISION = "deployment.kubernetes.io/revision"  # the Deployment controller's, on the Deployment and its ReplicaSets
FATAL_WAITING = frozenset({"ImagePullBackOff", "CrashLoopBackOff", "CreateContainerConfigError",
                           "CreateContainerError", "InvalidImageName", "ErrImageNeverPull", "RunContainerError"})
# A pull that failed because the registry could not be reached (restarting, a network blip) is no verdict on the
# image: the kubelet pulls again (its back-off doubles from 10 s to 5 min), so the wait goes on.
_UNREACHABLE = re.compile(r"connection refused|connection reset|i/o timeout|no route to host|network is unreachable|"
                          r"TLS handshake timeout|server misbehaving|: EOF\b|503 Service Unavailable|502 Bad Gateway")


def rollout(obj: Json) -> State:
    """The controller's view: ready or not, with counts; `fatal` when the controller itself gave up."""
    kind, spec, status = obj["kind"], obj.get("spec") or {}, obj.get("status") or {}
    observed = int(status.get("observedGeneration", 0)) >= int(obj["metadata"].get("generation", 0))
    if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        want = int(spec.get("replicas", 1))
        counted = "readyReplicas" if kind == "StatefulSet" else "availableReplicas"
        have, updated = int(status.get(counted, 0)), int(status.get("updatedReplicas", want if kind == "ReplicaSet"
                                                                                 else 0))
        stale = int(status.get("replicas", 0)) > updated if kind == "Deployment" else False
        ready = observed and have >= want and updated >= want and not stale
        word = "ready" if kind == "StatefulSet" else "available"
        deadline = _condition(status, "Progressing", reason="ProgressDeadlineExceeded")
        return State(ready, f"{have}/{want} {word}", fatal=deadline is not None,
                     running=have, desired=want)
    if kind == "DaemonSet":
        want = int(status.get("desiredNumberScheduled", 0))
        have, updated = int(status.get("numberAvailable", 0)), int(status.get("updatedNumberScheduled", 0))
        return State(observed and have >= want and updated >= want, f"{have}/{want} available",
                     running=have, desired=want)
    if kind == "Job":
        return _job(spec, status)
    if kind == "Pod":
        return _pod(obj)
    return State(True, "no rollout to wait for")


def diagnose(pods: list[Json], events: Events, grace_s: float, now: datetime | None = None) -> State | None:
    """The most telling problem among a workload's pods (newest first), or None when they show none."""
    found: list[tuple[int, State]] = []
    for pod in sorted(pods, key=lambda p: str(p["metadata"].get("creationTimestamp", "")), reverse=True):
        problem = _pod_problem(pod, events, grace_s, now or datetime.now(UTC))
        if problem is not None:
            found.append(problem)
    return max(found, key=lambda item: item[0])[1] if found else None


def _job(spec: Json, status: Json) -> State:
    want = int(spec.get("completions", 1) or 1)
    done = int(status.get("succeeded", 0))
    failed = _condition(status, "Failed")
    if failed is not None:
        return State(False, f"job failed: {failed.get('reason', '')}: {failed.get('message', '')}".rstrip(": "),
                     fatal=True, running=done, desired=want)
    ready = _condition(status, "Complete") is not None
    return State(ready, f"{done}/{want} completed", running=done, desired=want)


def _pod(pod: Json) -> State:
    phase = (pod.get("status") or {}).get("phase", "Pending")
    if phase == "Succeeded":
        return State(True, "completed", running=1, desired=1)
    if phase == "Failed":
        message = (pod.get("status") or {}).get("message") or "the pod failed"
        return State(False, message, fatal=True, desired=1, pod=pod["metadata"]["name"])
    ready = phase == "Running" and _condition(pod.get("status") or {}, "Ready") is not None
    return State(ready, "running" if ready else phase.lower(), running=int(ready), desired=1)


def _pod_problem(pod: Json, events: Events, grace_s: float, now: datetime) -> tuple[int, State] | None:
    """(severity, state): 3 fatal container state, 2 unschedulable, 1 failing probe, 0 anything else pending."""
    name, status = pod["metadata"]["name"], pod.get("status") or {}
    if (pod["metadata"].get("deletionTimestamp") or status.get("phase") in ("Succeeded",)):
        return None
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in FATAL_WAITING:
            return 3, _fatal_container(pod, container, waiting, events)
    unscheduled = _condition(status, "PodScheduled", value="False")
    if unscheduled is not None:
        message = _last_event(events(pod), "FailedScheduling") or unscheduled.get("message", "no node can take it")
        waited = (now - _time(unscheduled.get("lastTransitionTime"), now)).total_seconds()
        return 2, State(False, f"pod {name} is Pending: {message}", fatal=waited >= grace_s, pod=name)
    unready = [c for c in status.get("containerStatuses") or [] if not c.get("ready")]
    if status.get("phase") == "Running" and unready:
        probe = _last_event(events(pod), "Unhealthy")
        detail = probe or f"container {unready[0]['name']} is not ready"
        return (1 if probe else 0), State(False, f"pod {name}: {detail}", pod=name, container=unready[0]["name"])
    waiting = next((c for c in status.get("containerStatuses") or [] if (c.get("state") or {}).get("waiting")), None)
    if waiting is not None:
        reason = waiting["state"]["waiting"].get("reason", "waiting")
        return 0, State(False, f"pod {name}: container {waiting['name']}: {reason}", pod=name)
    return None


def _fatal_container(pod: Json, container: Json, waiting: Json, events: Events) -> State:
    name, reason = pod["metadata"]["name"], waiting["reason"]
    text = f"pod {name}: container {container['name']}: {reason}"
    if waiting.get("message"):
        text += f": {waiting['message']}"
    crashed = reason == "CrashLoopBackOff"
    if crashed:
        last = (container.get("lastState") or {}).get("terminated") or {}
        if last:
            text += f" (last exit code {last.get('exitCode')}, {last.get('reason', 'terminated')})"
        probe = _last_event(events(pod), "Unhealthy")
        if probe:
            text += f"; {probe}"
    waited_out = reason == "ImagePullBackOff" and unreachable(waiting.get("message", ""))
    return State(False, text, fatal=not waited_out, pod=name, container=container["name"],
                 previous=crashed and int(container.get("restartCount", 0)) > 0)


def unreachable(message: str) -> bool:
    """The words of a pull or push that did not reach the registry (as containerd and the Docker engine say it)."""
    return _UNREACHABLE.search(message) is not None


def pod_running(pod: Json) -> bool:
    """Its sandbox and containers are up (ready or not yet) and it is not being deleted: a tunnel can reach it."""
    return (pod.get("status") or {}).get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")


def pod_ready(pod: Json) -> bool:
    """Running, Ready and not being deleted: a pod that serves."""
    status = pod.get("status") or {}
    return (status.get("phase") == "Running" and _condition(status, "Ready") is not None
            and not pod["metadata"].get("deletionTimestamp"))


def _condition(status: Json, kind: str, *, value: str = "True", reason: str | None = None) -> Json | None:
    for condition in status.get("conditions") or []:
        matches = condition.get("type") == kind and condition.get("status") == value
        if matches and (reason is None or condition.get("reason") == reason):
            return dict(condition)
    return None


def _last_event(events: list[Json], reason: str) -> str:
    matching = [e for e in events if e.get("reason") == reason]
    return str(matching[-1].get("message", "")).strip() if matching else ""


def _time(text: Any, default: datetime) -> datetime:
    if not isinstance(text, str) or not text:
        return default
    try:
        return timestamps.parse(text)
    except ValueError:
        return default


def assess(obj: Json | None, pods: list[Json], events: Events, grace_s: float,
           replica_sets: Sequence[Json] = ()) -> State:
    """A workload's state: its rollout, and when that is not done, the most telling problem of its pods.
    `replica_sets`: a Deployment's, to see its rollout done from its pods (`replaced`)."""
    if obj is None:
        return State(False, "not created yet")
    state = rollout(obj)
    if state.ready:
        return state
    if obj["kind"] == "Deployment" and replaced(obj, replica_sets, pods):
        return State(True, f"{state.desired}/{state.desired} available", running=state.desired,
                     desired=state.desired)
    problem = diagnose(pods, events, grace_s)
    if problem is None:
        return state
    return State(False, f"{state.reason}; {problem.reason}", fatal=state.fatal or problem.fatal,
                 running=state.running, desired=state.desired, pod=problem.pod, container=problem.container,
                 previous=problem.previous)


def replaced(deployment: Json, replica_sets: Sequence[Json], pods: Sequence[Json]) -> bool:
    """A Deployment rolled out by its pods' account: the controller saw its spec, the pods of its current
    ReplicaSet (the one of its revision) are ready, enough of them, and every other pod of it is being deleted,
    out of its Services' endpoints. Its status says the same 0.1–0.2 s later (measured on the test cluster), after
    the controllers' round trips: the new ReplicaSet's status, the old one's scale-down, the old pod's deletion,
    the old ReplicaSet's status, then the Deployment's. With `minReadySeconds` only the status tells it; a paused
    Deployment makes no new ReplicaSet (its revision stays the old one's), so only its status tells it too."""
    meta, spec, status = deployment["metadata"], deployment.get("spec") or {}, deployment.get("status") or {}
    revision = (meta.get("annotations") or {}).get(REVISION)
    if (int(status.get("observedGeneration", 0)) < int(meta.get("generation", 0)) or not revision
            or spec.get("minReadySeconds") or spec.get("paused")):
        return False
    owned = {rs["metadata"]["name"]: rs for rs in replica_sets
             if any(ref.get("uid") == meta.get("uid") for ref in rs["metadata"].get("ownerReferences") or [])}
    current = [name for name, rs in owned.items() if (rs["metadata"].get("annotations") or {}).get(REVISION)
               == revision]
    if len(current) != 1:
        return False  # the new ReplicaSet not seen yet
    new = [pod for pod in pods if _replica_set(pod) == current[0]]
    old = [pod for pod in pods if _replica_set(pod) in owned and _replica_set(pod) != current[0]]
    ready = len([pod for pod in new if pod_ready(pod)])
    return ready >= int(spec.get("replicas", 1)) and all(pod["metadata"].get("deletionTimestamp") for pod in old)


def _replica_set(pod: Json) -> str:
    return next((str(ref.get("name")) for ref in pod["metadata"].get("ownerReferences") or []
                 if ref.get("kind") == "ReplicaSet"), "")


def ready_since(obj: Json, pods: list[Json]) -> str:
    """Since when the workload has been ready without a break, by its pods' record: the latest of their Ready
    conditions' transitions and their containers' starts (a crash and restart moves both); with no pod running
    (a completed Job), its own last change. "" when a running pod does not say."""
    running = [p for p in pods if not p["metadata"].get("deletionTimestamp")
               and (p.get("status") or {}).get("phase") == "Running"]
    if not running:
        return updated_at(obj)
    times = []
    for pod in running:
        status = pod.get("status") or {}
        condition = _condition(status, "Ready")
        if condition is None or not condition.get("lastTransitionTime"):
            return ""
        times.append(str(condition["lastTransitionTime"]))
        times += [str(c["state"]["running"].get("startedAt") or "") for c in status.get("containerStatuses") or []
                  if "running" in (c.get("state") or {})]
    return max(t for t in times if t)


def updated_at(obj: Json) -> str:
    times = [str(c.get("lastUpdateTime") or c.get("lastTransitionTime") or "")
             for c in (obj.get("status") or {}).get("conditions") or []]
    return max([t for t in times if t] or [str(obj["metadata"].get("creationTimestamp", ""))])

