"""devstack's kind provider against the real kind CLI: `devstack ci` on the demo's Kubernetes profile creates
the kind cluster it names (`kind create cluster`, context kind-<name> in the kubeconfig kind writes), loads the
images it built into the node (`kind load docker-image`, as no registry is configured or announced), deploys and
proves mail flows through the port forwards; a second `ci` finds the cluster and reuses it; `down --cluster`
deletes it (`kind delete cluster`): node, volume and context gone. With a local registry, devstack wires it into
the cluster it creates as kind's documentation does, and the kubelet pulls from it."""

from __future__ import annotations

import json
import re
import urllib.request

from tests.realkind.conftest import KindProject, LocalRegistry


def test_ci_creates_the_kind_cluster_loads_images_and_down_deletes_it(kind_project: KindProject) -> None:
    project = kind_project
    first = project.devstack("ci", "--timeout", "400", timeout=1200)
    output = first.stdout + first.stderr
    print(output)  # shown with -s or on a failure: what devstack said while kind made the cluster
    assert first.returncode == 0, output
    assert re.search(r"smoke .*inject", output) and "sink-smtp" in output, output
    # The user is told of the two long steps as they start: kind's cluster, and the images kind loads.
    assert f"creating kind cluster '{project.name}' (context kind-{project.name})" in output
    assert re.search(rf"created kind cluster '{project.name}' in \d+s", output)
    for resource in ("relay", "sink"):  # in one line, or one after its build and one before the deploy
        assert re.search(rf"loading (\S+, )*{resource}:\w+(, \S+)* into kind cluster '{project.name}'", output)
    assert project.name in project.clusters()
    assert project.containers() == [project.node]

    # The cluster is the node image's Kubernetes, reached through the context kind wrote.
    (node,) = json.loads(project.kubectl("get", "nodes", "-o", "json"))["items"]
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.37.2"
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])

    # The images went into the node with `kind load docker-image`: the pods run the local tags, which the node's
    # containerd holds under Docker's names, and no registry is involved.
    held = project.run("docker", "exec", project.node, "ctr", "--namespace=k8s.io", "images", "list", "--quiet")
    for resource in ("relay", "sink"):
        pods = json.loads(project.kubectl("get", "pods", "-n", project.name, "-l",
                                          f"dev.devstack.resource={resource}", "-o", "json"))["items"]
        (image,) = {c["image"] for p in pods for c in p["spec"]["containers"]}
        assert re.fullmatch(rf"{resource}:[0-9a-f]+", image), image
        assert f"docker.io/library/{image}" in held.split(), held

    # A second run finds the cluster (`kind get clusters`) and deploys into it as it is.
    second = project.devstack("ci", "--timeout", "400", timeout=1200)
    print(second.stdout + second.stderr)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "creating kind cluster" not in second.stdout and "loading" not in second.stdout
    assert project.containers() == [project.node]

    down = project.devstack("down", "--cluster", timeout=300)
    print(down.stdout + down.stderr)
    assert down.returncode == 0, down.stdout + down.stderr
    assert project.name not in project.clusters()
    assert project.containers() == []
    contexts = project.run("kubectl", "config", "get-contexts", "--output=name").split()
    assert f"kind-{project.name}" not in contexts
    again = project.devstack("down", "--cluster", timeout=300)
    assert again.returncode == 0 and f"cluster behind context 'kind-{project.name}' does not exist" in again.stdout


def test_a_local_registry_is_wired_into_the_kind_cluster_it_creates(kind_project: KindProject,
                                                                    local_registry: LocalRegistry) -> None:
    """kind's documented local registry: devstack creates the cluster with containerd's registry configuration
    path (kind's containerdConfigPatches), tells the node's containerd where the registry is, connects the
    registry to kind's network, announces it (KEP-1755), pushes, and the kubelet pulls."""
    project = kind_project
    project.configure(f'registry = "{local_registry.push}"\nregistry_from_cluster = "{local_registry.pull}"\n')
    first = project.devstack("ci", "--timeout", "400", timeout=1200)
    output = first.stdout + first.stderr
    print(output)
    assert first.returncode == 0, output
    assert "loading" not in output  # pushed, not loaded
    with urllib.request.urlopen(f"http://{local_registry.push}/v2/_catalog", timeout=5) as response:
        assert {"relay", "sink"} <= set(json.load(response)["repositories"])
    for resource in ("relay", "sink"):
        pods = json.loads(project.kubectl("get", "pods", "-n", project.name, "-l",
                                          f"dev.devstack.resource={resource}", "-o", "json"))["items"]
        statuses = [s for p in pods for s in p["status"]["containerStatuses"]]
        assert statuses and all(s["ready"] for s in statuses), statuses
        assert all(s["imageID"].startswith(f"{local_registry.pull}/{resource}@sha256:") for s in statuses), statuses
    hosting = json.loads(project.kubectl("get", "configmap", "-n", "kube-public", "local-registry-hosting",
                                         "-o", "json"))["data"]["localRegistryHosting.v1"]
    assert f'host: {local_registry.push}' in hosting and f"hostFromContainerRuntime: {local_registry.pull}" in hosting
    networks = project.run("docker", "inspect", local_registry.container, "--format",
                           "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}").split()
    assert project.network in networks

    down = project.devstack("down", "--cluster", timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    assert project.containers() == []
