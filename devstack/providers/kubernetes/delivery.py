"""How built images reach the cluster: pushed to a local registry when there is one (configured in
devstack.toml, or announced by the cluster in the KEP-1755 `local-registry-hosting` ConfigMap of kube-public),
else loaded into the nodes by the cluster's own tool (kind load, k3d image import, minikube image load).

Nodes report the images they hold (Node status.images), so an image that is already there is not sent again,
and one that is missing (a recreated cluster) is, even when the local build was a cache hit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import docker
import docker.errors
import yaml

from devstack import blocking
from devstack.errors import DeployError, RegistryUnavailable
from devstack.formats import reference
from devstack.images import docker_engine
from devstack.providers.kubernetes import health
from devstack.providers.kubernetes.api import APPLY_PATCH, Api
from devstack.providers.kubernetes.clusters import Registry

HOSTING_NAMESPACE = "kube-public"
HOSTING_NAME = "local-registry-hosting"
HOSTING_KEY = "localRegistryHosting.v1"
_HOSTING_PATH = f"/api/v1/namespaces/{HOSTING_NAMESPACE}/configmaps/{HOSTING_NAME}"
_HELP = "https://kind.sigs.k8s.io/docs/user/local-registry/"


def announced(api: Api) -> Registry | None:
    """The registry the cluster announces (KEP-1755), if any."""
    config_map = api.get(_HOSTING_PATH)
    try:
        hosting = yaml.safe_load((config_map or {}).get("data", {}).get(HOSTING_KEY, "")) or {}
    except yaml.YAMLError:
        return None
    host = hosting.get("host") if isinstance(hosting, dict) else None
    if not isinstance(host, str) or not host:
        return None
    return Registry(push=host, pull=str(hosting.get("hostFromContainerRuntime") or host))


def announce(api: Api, registry: Registry) -> None:
    """Publish the registry as KEP-1755 says, so other tools (Tilt, Skaffold, ctlptl) find it too."""
    hosting = {"host": registry.push, "help": _HELP}
    if registry.pull != registry.push:
        hosting["hostFromContainerRuntime"] = registry.pull
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": HOSTING_NAME, "namespace": HOSTING_NAMESPACE},
            "data": {HOSTING_KEY: yaml.safe_dump(hosting, sort_keys=True)}}
    api.call("PATCH", _HOSTING_PATH, query=[("fieldManager", "devstack"), ("force", "true")], body=body,
             content_type=APPLY_PATCH)


def refs(tags: Mapping[str, str], registry: Registry | None) -> dict[str, str]:
    """Repository → the image ref pods use: the local tag, or the tag in the registry as the nodes see it."""
    return {repo: f"{registry.pull}/{tag}" if registry else tag for repo, tag in tags.items()}


def push(tags: Sequence[str], registry: Registry) -> None:
    # A client per push, closed after it: left to the garbage collector, each one held a socket to the engine for
    # as long as the daemon ran (the long run counted them).
    with contextlib.closing(docker_engine.connect()) as client:
        for tag in tags:
            _push(client, tag, registry)


def _push(client: docker.DockerClient, tag: str, registry: Registry) -> None:
    repo, _, version = tag.rpartition(":")
    target = f"{registry.push}/{repo}"
    try:
        client.images.get(tag).tag(target, version)
        for line in client.images.push(target, tag=version, stream=True, decode=True):
            blocking.check()  # Ctrl-C stops a push between two lines of its progress
            if "error" in line:
                raise _failed(f"{target}:{version}", registry, str(line["error"]))
    except docker.errors.APIError as err:
        raise _failed(f"{target}:{version}", registry, str(err.explanation)) from None


def _failed(ref: str, registry: Registry, reason: str) -> DeployError | RegistryUnavailable:
    """A push the registry was not there for (restarting, say) is tried again with backoff, by the daemon, with no
    edit; any other failure waits for one."""
    message = f"pushing {ref} to {registry.push} failed: {reason}"
    if health.unreachable(reason):
        return RegistryUnavailable(f"{message}\n  is the registry running? devstack tries again")
    return DeployError(f"{message}\n  is the registry running? (kubernetes.registry in devstack.toml)")


def missing(api: Api, image_refs: Sequence[str]) -> list[str]:
    """The refs that some node does not hold (all of them when nodes do not say)."""
    nodes = api.call("GET", "/api/v1/nodes").get("items", [])
    if not nodes:
        return list(image_refs)
    held = [{reference.full(name) for image in (n.get("status") or {}).get("images") or [] for name in image["names"]}
            for n in nodes]
    return [ref for ref in image_refs if any(reference.full(ref) not in names for names in held)]

