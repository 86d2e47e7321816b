"""Is a swarm service ready? Its desired replicas run the current spec (healthy: swarm keeps a task in
`starting` until its healthcheck passes), no update is in flight, and its published ports answer on 127.0.0.1.

A service that keeps failing is reported at once with the task's error, not after the whole timeout.
"""

from __future__ import annotations

import socket
import time
from datetime import datetime
from typing import Any

import docker
import docker.errors

from devstack import blocking
from devstack.formats import timestamps
from devstack.providers.readiness import State

Json = dict[str, Any]  # the engine's inspect output, untyped by the SDK
# Short: each poll is one cheap API call, and the poll interval adds straight to every deploy's latency.
POLL_S = 0.1
_FAILURES_BEFORE_GIVING_UP = 3
_UPDATE_BUSY = ("updating", "rollback_started")
_UPDATE_STUCK = ("paused", "rollback_paused", "rollback_completed")
_FATAL_ERRORS = ("No such image", "invalid mount config", "invalid reference format")


def state(client: docker.DockerClient, name: str, since: datetime | None) -> State:
    """How the service stands; `container` names the last failed task's container, whose logs explain it."""
    try:
        spec = client.api.inspect_service(name)
    except docker.errors.NotFound:
        return State(False, "service not created yet")
    desired = _desired(spec)
    template = spec["Spec"]["TaskTemplate"]
    tasks = client.api.tasks(filters={"service": name})
    up = [t for t in tasks if t.get("DesiredState") == "running" and t["Status"]["State"] == "running"]
    running = [t for t in up if _current(t, template)]
    update = (spec.get("UpdateStatus") or {}).get("State", "")
    failures = sorted((t for t in tasks if _failed_since(t, since)), key=lambda t: t["UpdatedAt"])
    started = max((str(t["Status"]["Timestamp"]) for t in running), default="")
    if len(running) >= desired and len(up) == len(running) and _settled(update, running, since):
        return State(True, f"{len(running)}/{desired} running", running=len(running), desired=desired,
                     started_at=started, ready_since=started)  # a task is running once its healthcheck passed
    return State(False, _reason(len(running), desired, update, tasks, failures), fatal=_is_fatal(update, failures),
                 running=len(running), desired=desired, started_at=started,
                 container=_container(failures[-1]) if failures else "")


def wait_ports(ports: list[int], deadline: float) -> int | None:
    """Wait until each published TCP port accepts on 127.0.0.1; the first that never did, or None."""
    for port in ports:
        while not _accepts(port):
            if time.monotonic() > deadline:
                return port
            blocking.sleep(POLL_S)
    return None


def published_tcp_ports(client: docker.DockerClient, name: str) -> dict[int, str]:
    """Published TCP port → publish mode ('host' or 'ingress')."""
    endpoint = client.api.inspect_service(name).get("Endpoint", {})
    return {p["PublishedPort"]: p.get("PublishMode", "ingress") for p in endpoint.get("Ports", []) or []
            if p.get("Protocol", "tcp") == "tcp" and p.get("PublishedPort")}


def port_problem(port: int, mode: str) -> str:
    problem = f"published port 127.0.0.1:{port} does not answer"
    if mode == "ingress":
        # Ingress needs the kernel's IPVS; without it (dockerd logs "Could not get ipvs family") it never answers.
        problem += ("; it is published in ingress mode, which needs the routing mesh (IPVS) — "
                    "publish it with `mode: host` if this engine has no IPVS")
    return problem


def _desired(spec: Json) -> int:
    mode = spec["Spec"]["Mode"]
    if "Replicated" in mode:
        return int(mode["Replicated"].get("Replicas", 1))
    return 1  # global mode on a single-node swarm


def _current(task: Json, template: Json) -> bool:
    """Whether the task runs the service's current spec (image, env, a forced restart, ...). The engine fills
    in Runtime on the task's copy only."""
    return {k: v for k, v in task["Spec"].items() if k != "Runtime"} == \
        {k: v for k, v in template.items() if k != "Runtime"}


def _settled(update: str, running: list[Json], since: datetime | None) -> bool:
    """No update in flight, or one whose new tasks all run already. Swarm keeps an update "updating" for its
    monitor period (5 s by default) after the last task started; tasks created since this deploy began are new
    for sure, so devstack need not sit that out. An old task never passes: it was created before `since`.
    Without `since` (`status`), running tasks of the current spec are enough: the monitor period changes nothing."""
    if update not in _UPDATE_BUSY or since is None:
        return True
    return all(timestamps.parse(str(t["CreatedAt"])) >= since for t in running)


def _failed_since(task: Json, since: datetime | None) -> bool:
    failed = task["Status"]["State"] in ("failed", "rejected")
    return failed and (since is None or timestamps.parse(str(task["CreatedAt"])) >= since)


def _reason(running: int, desired: int, update: str, tasks: list[Json],
            failures: list[Json]) -> str:
    parts = [f"{running}/{desired} running"]
    if update:
        parts.append(f"update {update}")
    live = [t for t in tasks if t.get("DesiredState") == "running" and t["Status"]["State"] != "running"]
    if live:
        status = live[0]["Status"]
        parts.append(f"task {status['State']}" + (f" ({status['Message']})" if status.get("Message") else ""))
    if failures:
        last = failures[-1]["Status"]
        parts.append(f"{len(failures)} failed task(s), last: {last.get('Err') or last.get('Message', '')}")
    return "; ".join(parts)


def _container(task: Json) -> str:
    return str((task["Status"].get("ContainerStatus") or {}).get("ContainerID", ""))


def _is_fatal(update: str, failures: list[Json]) -> bool:
    if update in _UPDATE_STUCK or len(failures) >= _FAILURES_BEFORE_GIVING_UP:
        return True
    errors = [str(t["Status"].get("Err", "")) for t in failures]
    return any(marker in err for err in errors for marker in _FATAL_ERRORS)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


