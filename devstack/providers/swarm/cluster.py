"""Swarm membership: initialise a single-node swarm when the engine has none; leave it only when asked, and only
the one devstack made, and only when nothing else uses it (sharing.py says who does).

Whether devstack initialised the swarm is a label on the node itself, so it survives crashes and vanishes with
the swarm.
"""

from __future__ import annotations

import contextlib
from typing import Any

import docker
import docker.errors

from devstack import labels
from devstack.errors import EngineUnavailable
from devstack.providers.swarm import sharing


def ensure(client: docker.DockerClient) -> bool:
    """Make sure this engine is a swarm manager, and hold it in use for this process's life. True when devstack
    initialised the swarm just now."""
    sharing.use(client.info())  # before looking: a leave under way ends first, and none starts after
    if _manager(client.info()):
        return False
    try:
        _init(client)
        return True
    except docker.errors.APIError as err:
        if "already part of a swarm" not in str(err):
            raise
    # Another project initialised it between our look and our init: it is as good as ours.
    if _manager(client.info()):
        return False
    raise EngineUnavailable("this Docker engine's swarm changed while devstack joined it; run devstack again")


def _manager(info: dict[str, Any]) -> bool:
    """True for a manager; False when in no swarm; a swarm devstack cannot use is said."""
    swarm = info.get("Swarm", {})
    state = swarm.get("LocalNodeState", "inactive")
    if state == "active":
        if not swarm.get("ControlAvailable"):
            raise EngineUnavailable("this Docker engine is a swarm worker; devstack needs a manager node "
                                    "(run it on a manager, or `docker swarm leave` and let devstack create one)")
        return True
    if state != "inactive":
        raise EngineUnavailable(f"this Docker engine's swarm is '{state}'; fix it with `docker swarm leave --force` "
                                "and run devstack again")
    return False


def _init(client: docker.DockerClient) -> None:
    # Loopback only: a laptop's dev swarm has no business listening on the LAN.
    client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
    _mark_created(client)


def created_by_devstack(client: docker.DockerClient) -> bool:
    node = _this_node(client)
    return node is not None and node.attrs["Spec"].get("Labels", {}).get(labels.SWARM_CREATED) == "true"


def is_manager(client: docker.DockerClient) -> bool:
    swarm = client.info().get("Swarm", {})
    return bool(swarm.get("LocalNodeState") == "active" and swarm.get("ControlAvailable"))


def leave(client: docker.DockerClient) -> str:
    """Leave the swarm devstack initialised when nothing else uses it: "" when it left, else why it stays."""
    if not is_manager(client):
        return ""
    if not created_by_devstack(client):
        return "kept the swarm: devstack did not initialise it (`docker swarm leave --force` leaves it)"
    with sharing.alone(client.info()) as others:
        if others:
            return f"kept the swarm: devstack is using it: {'; '.join(others)}"
        held = sharing.occupants(client)
        if held:
            return f"kept the swarm: it holds {'; '.join(held)}"
        client.swarm.leave(force=True)
    _remove_gateway_bridge(client)
    return ""


def unused_and_ours(client: docker.DockerClient) -> bool:
    """A swarm devstack initialised that holds nothing now: `down` mentions how to leave it."""
    return is_manager(client) and created_by_devstack(client) and not sharing.occupants(client)


def _remove_gateway_bridge(client: docker.DockerClient) -> None:
    """`swarm init` creates docker_gwbridge and `swarm leave` keeps it; leave the networks as they were."""
    for network in client.networks.list(names=["docker_gwbridge"]):
        network.reload()
        if not network.attrs.get("Containers"):
            # Something attached meanwhile: then it is in use and stays.
            with contextlib.suppress(docker.errors.APIError):
                network.remove()


def _this_node(client: docker.DockerClient) -> docker.models.nodes.Node | None:
    node_id = client.info().get("Swarm", {}).get("NodeID")
    if not node_id:
        return None
    try:
        return client.nodes.get(node_id)
    except docker.errors.APIError:
        return None


def _mark_created(client: docker.DockerClient) -> None:
    node = _this_node(client)
    if node is None:
        return
    spec = dict(node.attrs["Spec"])
    spec["Labels"] = {**spec.get("Labels", {}), labels.SWARM_CREATED: "true"}
    node.update(spec)
