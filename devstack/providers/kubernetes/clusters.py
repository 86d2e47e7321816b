"""The clusters behind the providers: kind, k3d and minikube clusters devstack creates, loads images into and
deletes on request; and an existing context ('context') that devstack uses untouched.

Each class builds its command lines in `*_argv` methods (pure, unit-tested) and runs them with tools.run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from devstack.config.model import KubernetesSpec
from devstack.errors import DeployError, UsageError
from devstack.providers.kubernetes import tools

# The kind documentation's way to reach a local registry: containerd reads per-registry hosts.toml files.
_KIND_REGISTRY_CONFIG = """\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
containerdConfigPatches:
- |-
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "/etc/containerd/certs.d"
"""


@dataclass(frozen=True)
class Registry:
    push: str  # as this machine reaches it: "localhost:5001"
    pull: str  # as the nodes' container runtime reaches it: "kind-registry:5000" (often the same)


class Cluster(Protocol):
    name: str  # the kind/k3d cluster or minikube profile; the context for an existing cluster
    context: str
    managed: bool  # devstack may create and delete it

    def exists(self) -> bool: ...

    def create(self) -> None: ...

    def delete(self) -> None: ...

    def load(self, tags: Sequence[str]) -> None:
        """Copy locally built images into the nodes (when no registry is used)."""


def for_spec(provider: str, spec: KubernetesSpec) -> Cluster:
    registry = Registry(spec.registry, spec.registry_from_cluster or spec.registry) if spec.registry else None
    if provider == "kind":
        return Kind(spec.cluster, registry, spec.node_image)
    if provider == "k3d":
        return K3d(spec.cluster, registry, spec.node_image)
    if provider == "minikube":
        return Minikube(spec.cluster)
    return Existing(spec.context)


class Kind:
    managed = True

    def __init__(self, name: str, registry: Registry | None = None, image: str | None = None) -> None:
        self.name, self.registry, self.image = name, registry, image
        self.context = f"kind-{name}"

    def exists(self) -> bool:
        output = tools.run([self._kind(), "get", "clusters"], what="listing kind clusters")
        return self.name in output.split()

    def create(self) -> None:
        tools.run(self.create_argv(), what=f"creating kind cluster {self.name!r}",
                  stdin=_KIND_REGISTRY_CONFIG if self.registry else None)
        if self.registry:
            self._wire_registry(self.registry)

    def create_argv(self) -> list[str]:
        argv = [self._kind(), "create", "cluster", "--name", self.name, "--wait", "120s", *_image_flag(self.image)]
        return [*argv, "--config", "-"] if self.registry else argv

    def delete(self) -> None:
        tools.run([self._kind(), "delete", "cluster", "--name", self.name], what=f"deleting kind cluster {self.name!r}")

    def load(self, tags: Sequence[str]) -> None:
        if tags:
            tools.run(self.load_argv(tags), what=f"loading images into kind cluster {self.name!r}")

    def load_argv(self, tags: Sequence[str]) -> list[str]:
        return [self._kind(), "load", "docker-image", "--name", self.name, *tags]

    def registry_argvs(self, nodes: Sequence[str], registry: Registry,
                       network: str = "kind") -> list[tuple[list[str], str | None]]:
        """Per node: a hosts.toml for each name of the registry (pods pull `registry.pull`, the name devstack
        injects; manifests written for kind's documentation name `registry.push`) that sends pulls to
        `registry.pull` over plain HTTP, as containerd would try only HTTPS; then the registry joins the network
        of kind's nodes."""
        docker = tools.find("docker", "to wire the local registry into kind's nodes")
        hosts = f'[host."http://{registry.pull}"]\n'
        steps: list[tuple[list[str], str | None]] = []
        for node in nodes:
            for name in dict.fromkeys((registry.push, registry.pull)):
                folder = f"/etc/containerd/certs.d/{name}"
                steps.append(([docker, "exec", node, "mkdir", "-p", folder], None))
                steps.append(([docker, "exec", "-i", node, "cp", "/dev/stdin", f"{folder}/hosts.toml"], hosts))
        container = registry.pull.split(":", 1)[0]
        if container not in ("localhost", "127.0.0.1"):
            steps.append(([docker, "network", "connect", network, container], None))
        return steps

    def _wire_registry(self, registry: Registry) -> None:
        nodes = tools.run([self._kind(), "get", "nodes", "--name", self.name], what="listing kind nodes").split()
        # kind's nodes join the Docker network "kind", or the one this variable of kind's names.
        network = os.environ.get("KIND_EXPERIMENTAL_DOCKER_NETWORK") or "kind"
        for argv, stdin in self.registry_argvs(nodes, registry, network):
            try:
                tools.run(argv, what="wiring the local registry into kind", stdin=stdin)
            except DeployError as err:
                if "already exists" not in str(err):  # the registry is on the kind network already
                    raise

    def _kind(self) -> str:
        return tools.find("kind", "for provider 'kind'")


class K3d:
    managed = True

    def __init__(self, name: str, registry: Registry | None = None, image: str | None = None) -> None:
        self.name, self.registry, self.image = name, registry, image
        self.context = f"k3d-{name}"

    def exists(self) -> bool:
        output = tools.run([self._k3d(), "cluster", "list", "-o", "json"], what="listing k3d clusters")
        try:
            return any(cluster.get("name") == self.name for cluster in json.loads(output or "[]"))
        except (ValueError, AttributeError):
            raise DeployError(f"`k3d cluster list -o json` printed something unexpected: {output[:200]!r}") from None

    def create(self) -> None:
        tools.run(self.create_argv(), what=f"creating k3d cluster {self.name!r}")

    def create_argv(self) -> list[str]:
        argv = [self._k3d(), "cluster", "create", self.name, "--wait", *_image_flag(self.image)]
        # k3d wires a registry it knows by name itself, and publishes the local-registry-hosting ConfigMap.
        return [*argv, "--registry-use", self.registry.pull] if self.registry else argv

    def delete(self) -> None:
        tools.run([self._k3d(), "cluster", "delete", self.name], what=f"deleting k3d cluster {self.name!r}")

    def load(self, tags: Sequence[str]) -> None:
        if tags:
            tools.run(self.load_argv(tags), what=f"importing images into k3d cluster {self.name!r}")

    def load_argv(self, tags: Sequence[str]) -> list[str]:
        return [self._k3d(), "image", "import", "--cluster", self.name, *tags]

    def _k3d(self) -> str:
        return tools.find("k3d", "for provider 'k3d'")


def _image_flag(image: str | None) -> list[str]:
    """kind's and k3d's flag for the node image (the Kubernetes version), when devstack.toml names one."""
    return ["--image", image] if image else []


class Minikube:
    managed = True

    def __init__(self, profile: str) -> None:
        self.name = profile
        self.context = profile

    def exists(self) -> bool:
        """Running, rather than merely defined: `minikube start` also wakes a stopped profile."""
        return tools.succeeds([self._minikube(), "status", "--profile", self.name, "--output", "json"])

    def create(self) -> None:
        tools.run(self.create_argv(), what=f"starting minikube profile {self.name!r}")

    def create_argv(self) -> list[str]:
        return [self._minikube(), "start", "--profile", self.name]

    def delete(self) -> None:
        tools.run([self._minikube(), "delete", "--profile", self.name], what=f"deleting minikube {self.name!r}")

    def load(self, tags: Sequence[str]) -> None:
        for tag in tags:  # `minikube image load` takes one image at a time
            tools.run(self.load_argv(tag), what=f"loading {tag} into minikube {self.name!r}")

    def load_argv(self, tag: str) -> list[str]:
        return [self._minikube(), "image", "load", "--profile", self.name, tag]

    def _minikube(self) -> str:
        return tools.find("minikube", "for provider 'minikube'")


class Existing:
    """Provider 'context': a cluster devstack did not make and never changes beyond the project's objects."""

    managed = False

    def __init__(self, context: str) -> None:
        self.name = self.context = context

    def exists(self) -> bool:
        return True

    def create(self) -> None:
        raise UsageError(f"provider 'context' never creates clusters; create the one behind {self.context!r}")

    def delete(self) -> None:
        raise UsageError(f"provider 'context' never deletes clusters ({self.context!r} is not devstack's); "
                         "run `devstack down` without --cluster")

    def load(self, tags: Sequence[str]) -> None:
        """Nothing to copy: such a cluster shares this Docker engine (Docker Desktop, Rancher Desktop with dockerd)
        or pulls from the registry in kubernetes.registry."""
