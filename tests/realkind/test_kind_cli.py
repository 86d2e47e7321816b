"""devstack's kind provider against the real kind CLI: `devstack ci` on the demo's Kubernetes profile creates
the kind cluster it names (`kind create cluster`, context kind-<name> in the kubeconfig kind writes), loads the
images it built into the node (`kind load docker-image`, as no registry is configured or announced), deploys and
proves mail flows through the port forwards; a second `ci` finds the cluster and reuses it; `down --cluster`
deletes it (`kind delete cluster`): node, volume and context gone."""

from __future__ import annotations

import json
import re

from tests.realkind.conftest import KindProject


def test_ci_creates_the_kind_cluster_loads_images_and_down_deletes_it(kind_project: KindProject) -> None:
    project = kind_project
    first = project.devstack("ci", "--timeout", "400", timeout=1200)
    output = first.stdout + first.stderr
    print(output)  # shown with -s or on a failure: what devstack said while kind made the cluster
    assert first.returncode == 0, output
    assert re.search(r"smoke .*inject", output) and "sink-smtp" in output, output
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
    assert project.containers() == [project.node]

    down = project.devstack("down", "--cluster", timeout=300)
    print(down.stdout + down.stderr)
    assert down.returncode == 0, down.stdout + down.stderr
    assert project.name not in project.clusters()
    assert project.containers() == []
    contexts = project.run("kubectl", "config", "get-contexts", "--output=name").split()
    assert f"kind-{project.name}" not in contexts
