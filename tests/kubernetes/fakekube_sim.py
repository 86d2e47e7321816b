"""Plays the cluster's controllers and kubelet on a fakekube Store: a workload applied gets pods (owned by it,
labelled from its template) whose state follows the behaviour the test chose, and the workload's status and
the pods' events follow, a moment later, as on a real cluster.

    behaviours: ready, slow (ContainerCreating first, ready 0.3 s later), ImagePullBackOff, CrashLoopBackOff,
                Unschedulable, ProbeFailure, JobFailed
"""

from __future__ import annotations

import copy
import itertools
import threading
from typing import Any

from fakekube_store import Json, Kind, Store, now

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")
SCHEDULER_MESSAGE = "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available."
PROBE_MESSAGE = "Readiness probe failed: HTTP probe failed with statuscode: 503"
_names = itertools.count(1)


class Cluster:
    def __init__(self, store: Store, delay_s: float = 0.05) -> None:
        self.store, self.delay_s = store, delay_s
        self.behaviour: dict[str, str] = {}
        self.lines: dict[str, list[str]] = {}  # workload → what its containers print at start
        self.crash_lines: dict[str, list[str]] = {}  # workload → the last words of a crashed container
        self.timers: list[threading.Timer] = []
        store.subscribers.append(self._changed)
        store.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "fake-node"},
                   "status": {"images": []}})

    def stop(self) -> None:
        for timer in self.timers:
            timer.cancel()

    def load_images(self, *names: str) -> None:
        node = self.store.get(self.store.kind_of("Node"), "", "fake-node") or {}
        node["status"]["images"] += [{"names": [name], "sizeBytes": 1} for name in names]
        self.store.put(node)

    def replace_pods(self, workload: str, namespace: str) -> list[str]:
        """A rollout by hand: the workload's pods are deleted and new ones made (new names)."""
        for kind_name in WORKLOADS:
            obj = self.store.get(self.store.kind_of(kind_name), namespace, workload)
            if obj is not None:
                self._reconcile(self.store.kind_of(kind_name), obj)
                return [p["metadata"]["name"] for p in self._pods(obj)]
        raise KeyError(workload)

    def _changed(self, event: str, kind: Kind, obj: Json) -> None:
        if kind.kind not in WORKLOADS or event == "DELETED":
            return
        if (obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get("generation"):
            return  # our own status update
        self._later(self.delay_s, self._reconcile, kind, obj)

    def _later(self, delay: float, function: Any, *args: Any) -> None:
        timer = threading.Timer(delay, function, args=args)
        timer.daemon, timer.name = True, "fakekube timer"  # the simulator's: the leak check leaves it alone
        self.timers.append(timer)
        timer.start()

    def _reconcile(self, kind: Kind, obj: Json) -> None:
        current = self.store.get(kind, obj["metadata"]["namespace"], obj["metadata"]["name"])
        if current is None or current["metadata"]["generation"] != obj["metadata"]["generation"]:
            return
        name = current["metadata"]["name"]
        behaviour = self.behaviour.get(name, "ready")
        for pod in self._pods(current):
            self.store.delete(self.store.kind_of("Pod"), pod["metadata"]["namespace"], pod["metadata"]["name"])
        replicas = 1 if kind.kind in ("DaemonSet", "Job") else int(current["spec"].get("replicas", 1))
        pods = [self._make_pod(current, behaviour, index) for index in range(replicas)]
        self._set_status(kind, current, behaviour == "ready", replicas)
        if behaviour == "slow":
            self._later(0.3, self._become_ready, kind, current, pods)

    def _make_pod(self, owner: Json, behaviour: str, index: int) -> Json:
        template = copy.deepcopy(owner["spec"].get("template") or {})
        namespace, owner_name = owner["metadata"]["namespace"], owner["metadata"]["name"]
        name = f"{owner_name}-{next(_names)}-{index}"
        containers = template["spec"]["containers"]
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": namespace, "labels": (template.get("metadata") or {}).get(
                   "labels", {}), "ownerReferences": [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                                        "name": owner_name, "uid": owner["metadata"]["uid"]}]},
               "spec": template["spec"], "status": _pod_status(behaviour, containers)}
        self.store.put(pod)
        for container in containers:
            self.store.add_log(namespace, name, container["name"], f"{owner_name} started",
                               *self.lines.get(owner_name, []))
            if behaviour == "CrashLoopBackOff":
                self.store.previous_logs[(namespace, name, container["name"])] = self.crash_lines.get(
                    owner_name, ["Traceback (most recent call last):", "RuntimeError: boom"])
        if behaviour in ("Unschedulable", "ProbeFailure"):
            reason, message = (("FailedScheduling", SCHEDULER_MESSAGE) if behaviour == "Unschedulable"
                               else ("Unhealthy", PROBE_MESSAGE))
            self.store.put({"apiVersion": "v1", "kind": "Event",
                            "metadata": {"name": f"{name}.{next(_names)}", "namespace": namespace},
                            "involvedObject": {"kind": "Pod", "name": name, "namespace": namespace},
                            "reason": reason, "message": message, "type": "Warning", "lastTimestamp": now()})
        return pod

    def _become_ready(self, kind: Kind, owner: Json, pods: list[Json]) -> None:
        for pod in pods:
            current = self.store.get(self.store.kind_of("Pod"), pod["metadata"]["namespace"], pod["metadata"]["name"])
            if current is not None:
                current["status"] = _pod_status("ready", current["spec"]["containers"])
                self.store.put(current)
        latest = self.store.get(kind, owner["metadata"]["namespace"], owner["metadata"]["name"])
        if latest is not None:
            self._set_status(kind, latest, True, len(pods))

    def _set_status(self, kind: Kind, obj: Json, ready: bool, replicas: int) -> None:
        have = replicas if ready else 0
        generation = obj["metadata"]["generation"]
        if kind.kind == "Job":
            behaviour = self.behaviour.get(obj["metadata"]["name"], "ready")
            conditions = [{"type": "Complete", "status": "True"}] if ready else []
            if behaviour == "JobFailed":
                conditions = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                               "message": "Job has reached the specified backoff limit"}]
            status: Json = {"succeeded": have, "active": 0 if ready else 1, "conditions": conditions}
        elif kind.kind == "DaemonSet":
            status = {"desiredNumberScheduled": 1, "numberAvailable": have, "updatedNumberScheduled": 1,
                      "numberReady": have}
        else:
            status = {"replicas": replicas, "updatedReplicas": replicas, "readyReplicas": have,
                      "availableReplicas": have,
                      "conditions": [{"type": "Available", "status": "True" if ready else "False",
                                      "lastUpdateTime": now()}]}
        status["observedGeneration"] = generation
        obj["status"] = status
        self.store.put(obj)

    def _pods(self, owner: Json) -> list[Json]:
        return [p for p in self.store.list(self.store.kind_of("Pod"), owner["metadata"]["namespace"])
                if any(r.get("uid") == owner["metadata"]["uid"] for r in p["metadata"].get("ownerReferences") or [])]


def _pod_status(behaviour: str, containers: list[Json]) -> Json:
    first = containers[0]
    scheduled = {"type": "PodScheduled", "status": "True", "lastTransitionTime": now()}
    if behaviour == "Unschedulable":
        return {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                    "reason": "Unschedulable", "message": SCHEDULER_MESSAGE,
                                                    "lastTransitionTime": now()}]}
    states: dict[str, Json] = {
        "ready": {"state": {"running": {"startedAt": now()}}, "ready": True, "restartCount": 0},
        "slow": {"state": {"waiting": {"reason": "ContainerCreating"}}, "ready": False, "restartCount": 0},
        "ImagePullBackOff": {"state": {"waiting": {"reason": "ImagePullBackOff",
                                                   "message": f'Back-off pulling image "{first.get("image")}"'}},
                             "ready": False, "restartCount": 0},
        "CrashLoopBackOff": {"state": {"waiting": {
                                 "reason": "CrashLoopBackOff",
                                 "message": f"back-off 40s restarting failed container={first['name']}"}},
                             "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
                             "ready": False, "restartCount": 3},
        "ProbeFailure": {"state": {"running": {"startedAt": now()}}, "ready": False, "restartCount": 0},
        "JobFailed": {"state": {"terminated": {"exitCode": 2, "reason": "Error"}}, "ready": False, "restartCount": 0},
    }
    container_state = states[behaviour]
    statuses = [{"name": c["name"], "image": c.get("image", ""), **copy.deepcopy(container_state)} for c in containers]
    ready = behaviour == "ready"
    phase = "Pending" if behaviour in ("slow", "ImagePullBackOff") else "Failed" if behaviour == "JobFailed" \
        else "Running"
    return {"phase": phase, "containerStatuses": statuses,
            "conditions": [scheduled, {"type": "Ready", "status": "True" if ready else "False"}]}
