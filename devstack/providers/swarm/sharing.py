"""Who else uses this engine's swarm: the devstack processes of this machine, and what the swarm holds.

A swarm is the engine's, not a project's: several projects (and other tools) deploy into the one swarm of an
engine. So devstack never leaves a swarm on its own, and leaves one when asked (`down --cluster`) only when it
would pull nothing from under anyone:

- every devstack process that deploys holds a shared lock on a file named after the engine, from its first
  deploy step until it exits (a second project still building, or between its swarm check and its first object,
  holds it too); leaving takes that lock exclusively, without waiting, and stays when it cannot;
- the swarm must hold nothing: no service, config, secret or swarm network (the engine's `ingress` aside) of any
  project or tool, and no other node.

The lock names its holders: Linux lists every lock with its process in /proc/locks.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import docker

from devstack import blocking, labels

_STACK = "com.docker.stack.namespace"  # docker stack deploy's label: the stack a service belongs to
_SHOWN = 4  # names shown per owner
_held: dict[str, int] = {}  # lock file → its descriptor, kept open (and so the lock held) until the process exits


def lock_file(info: dict[str, Any]) -> Path:
    """One file per engine (a machine may run two, each with its swarm), in the machine's temp folder. An engine
    is known by its data folder: its ID lives in /etc/docker and is the same for every engine of a machine."""
    engine = hashlib.sha256(f"{info.get('Name')}:{info.get('DockerRootDir')}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"devstack-swarm-{engine}.lock"


def use(info: dict[str, Any]) -> None:
    """Hold the shared lock on the engine's swarm (`info`: the engine's) for the rest of this process. Waits only
    while another process is leaving the swarm (the time of one API call)."""
    path = lock_file(info)
    if str(path) in _held:
        return
    fd = _open(path)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            blocking.sleep(0.05)
        except BaseException:
            os.close(fd)
            raise
    _held[str(path)] = fd


@contextlib.contextmanager
def alone(info: dict[str, Any]) -> Iterator[list[str]]:
    """The exclusive lock, when no other devstack process uses the swarm: yields [] while holding it; otherwise
    yields who holds it ("pid N in /its/folder") without the lock."""
    path = lock_file(info)
    fd = _open(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            others = []
        except BlockingIOError:
            others = holders(path) or ["a devstack process"]
        yield others
    finally:
        os.close(fd)  # closing drops the lock


def holders(path: Path) -> list[str]:
    """The processes holding a lock on `path`, as /proc/locks lists them (Linux), with their working folder."""
    try:
        stat = path.stat()
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    file_id = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    pids = sorted({fields[4] for line in lines if len(fields := line.split()) > 5
                   and fields[1] == "FLOCK" and fields[5] == file_id})
    return [_describe(int(pid)) for pid in pids if int(pid) != os.getpid()]


def occupants(client: docker.DockerClient) -> list[str]:
    """What the swarm holds, grouped by owner: "services of project 'demo' (demo_relay, demo_sink)"."""
    found = [("services", s.name, s.attrs["Spec"].get("Labels") or {}) for s in client.services.list()]
    found += [("configs", c.name, c.attrs["Spec"].get("Labels") or {}) for c in client.configs.list()]
    found += [("secrets", s.name, s.attrs["Spec"].get("Labels") or {}) for s in client.secrets.list()]
    found += [("networks", n.name, n.attrs.get("Labels") or {})
              for n in client.networks.list(filters={"scope": "swarm"}) if not n.attrs.get("Ingress")]
    grouped: dict[tuple[str, str], list[str]] = {}
    for kind, name, object_labels in found:
        grouped.setdefault((kind, _owner(object_labels)), []).append(name)
    described = [f"{kind} of {owner} ({_names(names)})" for (kind, owner), names in grouped.items()]
    others = len(client.nodes.list()) - 1
    return described + ([f"{others} other node(s)"] if others > 0 else [])


class Publisher(NamedTuple):
    service: str
    project: str  # "" when no devstack project made it
    owner: str  # "project 'demo'", "stack 'web'": for messages


def published_ports(client: docker.DockerClient) -> dict[int, Publisher]:
    """Every port a service of the swarm publishes (asked for or given), whether or not a task of it runs now."""
    found: dict[int, Publisher] = {}
    for service in client.services.list():
        wanted = (service.attrs["Spec"].get("EndpointSpec") or {}).get("Ports") or []
        given = (service.attrs.get("Endpoint") or {}).get("Ports") or []
        service_labels = service.attrs["Spec"].get("Labels") or {}
        publisher = Publisher(service.name, service_labels.get(labels.PROJECT, ""), _owner(service_labels))
        for port in [*wanted, *given]:
            if port.get("PublishedPort"):
                found[int(port["PublishedPort"])] = publisher
    return found


def _owner(object_labels: dict[str, str]) -> str:
    if labels.PROJECT in object_labels:
        return f"project '{object_labels[labels.PROJECT]}'"
    if _STACK in object_labels:
        return f"stack '{object_labels[_STACK]}'"
    return "no devstack project"


def _names(names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _describe(pid: int) -> str:
    try:
        return f"pid {pid} in {os.readlink(f'/proc/{pid}/cwd')}"
    except OSError:
        return f"pid {pid}"


def _open(path: Path) -> int:
    """Readable by everyone: a shared lock needs no write access, so every user's devstack can take one."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o644)  # against a restrictive umask; only the file's owner can, and needs to
    return fd
