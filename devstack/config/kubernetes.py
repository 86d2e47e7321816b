"""The [kubernetes] table: which cluster (kubeconfig context) a Kubernetes provider acts on, and where its
manifests come from (plain YAML globs, kustomize folders, helm charts).

    [kubernetes]
    cluster = "demo"                      # kind/k3d cluster or minikube profile (default: project name;
                                          # minikube: "minikube")
    context = "docker-desktop"            # provider "context" only: the kubeconfig context to use, untouched
    namespace = "demo"                    # default: the project name; created when missing
    manifests = ["k8s/*.yaml"]            # plain YAML, multi-document files and globs
    kustomize = ["k8s/overlays/dev"]      # rendered with `kubectl kustomize`
    kubeconfig = "~/.kube/other"          # default: $KUBECONFIG, else ~/.kube/config
    allowed_contexts = ["lab-*"]          # added to the allow-list (kind-*, k3d-*, minikube, docker-desktop, ...)
    registry = "localhost:5001"           # a local registry devstack pushes to
    registry_from_cluster = "kind-registry:5000"  # the same registry as the nodes pull from
    node_image = "kindest/node:v1.33.1"   # kind/k3d: the node image of a cluster devstack creates (--image)

    [[kubernetes.helm]]
    chart = "charts/mailman"
    release = "mailman"                   # default: the project name
    values = ["charts/dev-values.yaml"]
    set = { "web.replicas" = "1" }
"""

from __future__ import annotations

import dataclasses
import glob
import re
from pathlib import Path

from devstack.config.model import Config, HelmChart, KubernetesSpec
from devstack.config.reader import Table, resolved
from devstack.errors import UsageError

# A namespace is a DNS-1123 label.
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# kind, k3d and minikube accept these as cluster names; the context derives from it.
_CLUSTER = re.compile(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?")
_CONTEXT_PREFIX = {"kind": "kind-", "k3d": "k3d-", "minikube": ""}


def on_context(config: Config, context: str) -> Config:
    """`--kube-context NAME`: the project's manifests on an existing kubeconfig context instead of its own kind,
    k3d or minikube cluster (which is then neither created nor deleted). The context guard still applies."""
    if config.kubernetes is None:
        raise UsageError(f"--kube-context {context}: {config.file.name} deploys with provider {config.provider!r}, "
                         "not to Kubernetes (it has no [kubernetes] table)")
    spec = dataclasses.replace(config.kubernetes, context=context, cluster="")
    return dataclasses.replace(config, provider="context", kubernetes=spec)


def read(top: Table, provider: str, project: str) -> KubernetesSpec:
    """Read [kubernetes] for a Kubernetes provider; `top` is the whole file's table."""
    if not top.has("kubernetes"):
        raise top.error("kubernetes", f"is required for provider {provider!r} (at least `manifests`, `kustomize` "
                                      "or a [[kubernetes.helm]] chart)")
    table = top.table("kubernetes")
    cluster, context = _cluster_and_context(table, provider, project)
    namespace = table.string("namespace", _namespace_default(project))
    if not _NAMESPACE.fullmatch(namespace):
        raise table.error("namespace", f"expected a DNS-1123 label (lower-case letters, digits, '-'), "
                                       f"got {namespace!r}")
    spec = KubernetesSpec(
        context=context, cluster=cluster, namespace=namespace,
        manifests=tuple(_globs(table)), kustomize=tuple(_folders(table, "kustomize")),
        helm=tuple(_helm(chart, project) for chart in table.array_of_tables("helm")),
        kubeconfig=_kubeconfig(table), allowed_contexts=tuple(table.str_list("allowed_contexts", [])),
        registry=table.string("registry", None), registry_from_cluster=table.string("registry_from_cluster", None),
        node_image=_node_image(table, provider))
    if not (spec.manifests or spec.kustomize or spec.helm):
        raise table.error("manifests", "is required: give `manifests`, `kustomize` or a [[kubernetes.helm]] chart")
    if spec.registry_from_cluster and not spec.registry:
        raise table.error("registry_from_cluster", "needs `registry` too (the address this machine pushes to)")
    table.done()
    return spec


def _cluster_and_context(table: Table, provider: str, project: str) -> tuple[str, str]:
    if provider == "context":
        if table.has("cluster"):
            raise table.error("cluster", "is not used by provider 'context', which never creates or deletes a "
                                         "cluster (set `context` to the kubeconfig context to use)")
        return "", table.string("context")
    if table.has("context"):
        raise table.error("context", f"derives from `cluster` for provider {provider!r} "
                                     f"('{_CONTEXT_PREFIX[provider]}<cluster>'); set `cluster` instead, or use "
                                     "provider 'context' for an existing context")
    cluster = table.string("cluster", "minikube" if provider == "minikube" else project.replace("_", "-"))
    if not _CLUSTER.fullmatch(cluster):
        raise table.error("cluster", f"expected lower-case letters, digits and '-' (at most 32), got {cluster!r}")
    return cluster, _CONTEXT_PREFIX[provider] + cluster


def _node_image(table: Table, provider: str) -> str | None:
    image: str | None = table.string("node_image", None)
    if image is not None and provider not in ("kind", "k3d"):
        raise table.error("node_image", f"is for clusters devstack creates with kind or k3d (`--image`), not for "
                                        f"provider {provider!r}")
    if image is not None and not image.strip():
        raise table.error("node_image", "expected an image reference, got an empty string")
    return image


def _namespace_default(project: str) -> str:
    return project.replace("_", "-")


def _globs(table: Table) -> list[str]:
    patterns = []
    for i, pattern in enumerate(table.str_list("manifests", [])):
        absolute = str(table.root.resolve() / pattern)
        if not glob.glob(absolute, recursive=True):
            raise table.error(f"manifests[{i}]", f"{pattern!r} matches no file")
        patterns.append(absolute)
    return patterns


def _folders(table: Table, key: str) -> list[Path]:
    folders = []
    for i, value in enumerate(table.str_list(key, [])):
        path = resolved(table, f"{key}[{i}]", value)
        if not path.is_dir():
            raise table.error(f"{key}[{i}]", f"directory '{value}' does not exist")
        folders.append(path)
    return folders


def _kubeconfig(table: Table) -> Path | None:
    value = table.string("kubeconfig", None)
    if value is None:
        return None
    path = (table.root / Path(value).expanduser()).resolve()
    if not path.is_file():
        raise table.error("kubeconfig", f"file '{value}' does not exist")
    return path


def _helm(table: Table, project: str) -> HelmChart:
    chart = (table.root / table.string("chart")).resolve()
    if not chart.exists():
        raise table.error("chart", f"'{chart}' does not exist (helm charts are read from disk: no repositories)")
    values = []
    for i, value in enumerate(table.str_list("values", [])):
        path = (table.root / value).resolve()
        if not path.is_file():
            raise table.error(f"values[{i}]", f"file '{value}' does not exist")
        values.append(path)
    spec = HelmChart(chart=chart, release=table.string("release", _namespace_default(project)), values=tuple(values),
                     set=table.str_map("set"))
    table.done()
    return spec
