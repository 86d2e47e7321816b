"""Swarm membership: join a single-node swarm when the engine has none, and leave only the one devstack made.

Whether devstack initialised the swarm is a label on the node itself, so it survives crashes and vanishes with
the swarm.
"""

from __future__ import annotations

import contextlib

import docker
import docker.errors

from devstack import labels
from devstack.errors import EngineUnavailable


def ensure(client: docker.DockerClient) -> bool:
    """Make sure this engine is a swarm manager. True when devstack initialised the swarm just now."""
    swarm = client.info().get("Swarm", {})
    state = swarm.get("LocalNodeState", "inactive")
    if state == "active":
        if not swarm.get("ControlAvailable"):
            raise EngineUnavailable("this Docker engine is a swarm worker; devstack needs a manager node "
                                    "(run it on a manager, or `docker swarm leave` and let devstack create one)")
        return False
    if state != "inactive":
        raise EngineUnavailable(f"this Docker engine's swarm is '{state}'; fix it with `docker swarm leave --force` "
                                "and run devstack again")
    # Loopback only: a laptop's dev swarm has no business listening on the LAN.
    client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
    _mark_created(client)
    return True


def created_by_devstack(client: docker.DockerClient) -> bool:
    node = _this_node(client)
    return node is not None and node.attrs["Spec"].get("Labels", {}).get(labels.SWARM_CREATED) == "true"


def is_manager(client: docker.DockerClient) -> bool:
    swarm = client.info().get("Swarm", {})
    return bool(swarm.get("LocalNodeState") == "active" and swarm.get("ControlAvailable"))


def leave_if_unused(client: docker.DockerClient) -> bool:
    """Leave the swarm devstack created once no service at all is left in it (other projects may share it)."""
    if not is_manager(client) or not created_by_devstack(client) or client.services.list():
        return False
    client.swarm.leave(force=True)
    _remove_gateway_bridge(client)
    return True


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
