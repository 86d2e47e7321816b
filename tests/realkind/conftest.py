"""Fixtures for devstack's kind provider against the real kind CLI: kind v0.33.0 and a node image of Kubernetes
v1.37.2, both built on this machine by tests/kind/build.sh (`make kind`, which `make test` runs), and a copy of the
demo's Kubernetes profile that creates a kind cluster of its own.

What differs from a user's machine, and only here: kind runs with tests/kind/docker first on PATH, a wrapper that
starts kind's nodes without --privileged (the test machines cannot start privileged containers); the profile names
the node image (`node_image`), as a user picks a Kubernetes version; kind's Docker network and kubeconfig are the
test's own (KIND_EXPERIMENTAL_DOCKER_NETWORK, KUBECONFIG). Everything the test makes is removed afterwards: the
cluster, its node container and volume, the network, and the host sysctls the node's kubelet set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import base_image, free_port
from tests.realkube.conftest import TestCluster, copy_demo

REPO = Path(__file__).resolve().parents[2]
CLUSTER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "devstack/test-cluster/v1.37.2"
REGISTRY_IMAGE = "devstack.test/kind-registry:test"
REGISTRY_CONFIG = """\
version: 0.1
storage:
  filesystem: {rootdirectory: /var/lib/registry}
http:
  addr: ":5000"
"""
KIND_LABEL = "io.x-k8s.kind.cluster"  # on every node container kind makes
# Host-wide sysctls the kubelet sets at start (vm.overcommit_memory, kernel.panic, ...): kind's node shares the
# host's kernel, so its kubelet changes them for the whole machine, as on a user's.
KUBELET_SYSCTLS = ("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
                   "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes")


@dataclass(frozen=True)
class KindBuild:
    kind: Path
    node_image: str


@pytest.fixture(scope="session")
def kind_build() -> KindBuild:
    """kind and the node image (built once, then found by the digest of their inputs: seconds)."""
    result = subprocess.run(["bash", str(REPO / "tests/kind/build.sh")], capture_output=True, text=True,
                            timeout=3600, check=False)
    if result.returncode != 0:
        pytest.fail(f"tests/kind/build.sh failed:\n{result.stderr[-3000:]}")
    lines = result.stdout.split()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "devstack/kind"
    return KindBuild(kind=cache / "kind-v0.33.0/kind", node_image=lines[-1])


@dataclass
class KindProject:
    """The demo's Kubernetes profile under its own name, creating the kind cluster of that name."""

    root: Path
    name: str
    env: dict[str, str]
    network: str

    @property
    def node(self) -> str:
        return f"{self.name}-control-plane"

    def devstack(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "devstack", *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def run(self, *argv: str, timeout: float = 120) -> str:
        result = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode:
            raise AssertionError(f"{' '.join(argv)}: {result.stderr.strip()}")
        return result.stdout

    def configure(self, lines: str) -> None:
        """More keys in the profile's [kubernetes] table."""
        profile = self.root / "devstack.toml"
        profile.write_text(profile.read_text().replace("[kubernetes]\n", f"[kubernetes]\n{lines}", 1))

    def kubectl(self, *args: str) -> str:
        return self.run("kubectl", f"--context=kind-{self.name}", *args)

    def clusters(self) -> list[str]:
        return self.run("kind", "get", "clusters").split()

    def containers(self) -> list[str]:
        return self.run("docker", "ps", "-a", "--filter", f"label={KIND_LABEL}={self.name}",
                        "--format", "{{.Names}}").split()


@pytest.fixture
def kind_project(tmp_path: Path, kind_build: KindBuild) -> Iterator[KindProject]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kind").symlink_to(kind_build.kind)
    (bin_dir / "docker").symlink_to(REPO / "tests/kind/docker")
    demo = copy_demo(tmp_path, TestCluster(tmp_path / "kubeconfig"))
    network = f"{demo.name}-net"
    env = {**demo.env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "KIND_EXPERIMENTAL_DOCKER_NETWORK": network}
    project = KindProject(root=demo.root, name=demo.name, env=env, network=network)
    project.configure(f'node_image = "{kind_build.node_image}"\n')
    sysctls = {key: (Path("/proc/sys") / key).read_text() for key in KUBELET_SYSCTLS}
    yield project
    if project.name in project.clusters():  # the test failed before its `down --cluster`
        project.run("kind", "delete", "cluster", "--name", project.name)
    subprocess.run(["docker", "network", "rm", network], capture_output=True, check=False)
    for key, value in sysctls.items():
        (Path("/proc/sys") / key).write_text(value)


@dataclass(frozen=True)
class LocalRegistry:
    """A registry container as kind's documentation sets one up: published on 127.0.0.1 for pushes from this
    machine, reached by the nodes under its container name once it joins kind's network."""

    container: str
    port: int

    @property
    def push(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pull(self) -> str:
        return f"{self.container}:5000"


@pytest.fixture
def local_registry(tmp_path: Path, kind_project: KindProject) -> Iterator[LocalRegistry]:
    """Debian's docker-registry (the test cluster's, tests/cluster/build.sh) in a container of the project's."""
    context = tmp_path / "registry"
    context.mkdir()
    (context / "docker-registry").write_bytes((CLUSTER_CACHE / "root/usr/bin/docker-registry").read_bytes())
    (context / "docker-registry").chmod(0o755)
    (context / "config.yml").write_text(REGISTRY_CONFIG)
    (context / "Dockerfile").write_text(
        "ARG BASE\nFROM ${BASE}\nCOPY docker-registry config.yml /registry/\n"
        'CMD ["/registry/docker-registry", "serve", "/registry/config.yml"]\n')
    kind_project.run("docker", "build", "-q", "--build-arg", f"BASE={base_image() or 'devstack/base:bookworm'}",
                     "-t", REGISTRY_IMAGE, str(context), timeout=300)
    registry = LocalRegistry(container=f"{kind_project.name}-registry", port=free_port())
    # On a network of its own rather than Docker's default bridge, which tests of other things may take away.
    kind_project.run("docker", "network", "create", registry.container)
    kind_project.run("docker", "run", "-d", "--name", registry.container, "--network", registry.container,
                     "-p", f"{registry.push}:5000", REGISTRY_IMAGE)
    _answers(f"http://{registry.push}/v2/", timeout_s=30)
    yield registry
    # Before the kind project's teardown removes the network the registry joined.
    subprocess.run(["docker", "rm", "-f", "-v", registry.container], capture_output=True, check=False, timeout=60)
    subprocess.run(["docker", "network", "rm", registry.container], capture_output=True, check=False, timeout=60)
    subprocess.run(["docker", "rmi", REGISTRY_IMAGE], capture_output=True, check=False, timeout=60)


def _answers(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
