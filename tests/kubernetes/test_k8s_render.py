"""Rendering without a cluster: manifests read from YAML globs, kustomize and helm; image refs injected into every
pod template; labels, namespaces, order and digest."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from devstack import labels
from devstack.config.model import HelmChart, KubernetesSpec
from devstack.config.secret_store import Secret
from devstack.errors import ConfigError
from devstack.providers.kubernetes import inject, manifests, render
from devstack.providers.kubernetes.manifests import Document

POD_SPEC = {"initContainers": [{"name": "init", "image": "relay:latest"}],
            "containers": [{"name": "main", "image": "relay"}, {"name": "side", "image": "busybox:1.36"}]}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole"}


def workload(kind: str, name: str = "w") -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": name}}, "spec": dict(POD_SPEC)}
    api = {"Pod": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}.get(kind, "apps/v1")
    obj: dict[str, Any] = {"apiVersion": api, "kind": kind, "metadata": {"name": name}}
    if kind == "Pod":
        obj["metadata"]["labels"], obj["spec"] = template["metadata"]["labels"], template["spec"]
    elif kind == "CronJob":
        obj["spec"] = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        obj["spec"] = {"selector": {"matchLabels": {"app": name}}, "template": template}
    return obj


def rendered(*objects: dict[str, Any], refs: dict[str, str] | None = None,
             secrets: tuple[Secret, ...] = ()) -> render.Rendered:
    documents = [Document(o, f"test.yaml#{i}") for i, o in enumerate(objects, 1)]
    inputs = render.Inputs(project="demo", namespace="dev", refs=refs or {"relay": "relay:abc"}, secrets=secrets)
    return render.render(documents, inputs, lambda _api, kind: kind not in CLUSTER_SCOPED)


@pytest.mark.parametrize("kind", inject.WORKLOAD_KINDS)
def test_images_are_injected_into_every_pod_template(kind: str) -> None:
    (obj,) = rendered(workload(kind)).objects
    images = [(c["name"], c["image"], c.get("imagePullPolicy")) for c in inject.containers(obj)]
    assert images == [("init", "relay:abc", "IfNotPresent"), ("main", "relay:abc", "IfNotPresent"),
                      ("side", "busybox:1.36", None)]
    pod_labels = dict(inject.template(obj)["metadata"]["labels"])  # type: ignore[index]
    if kind == "Pod":  # the template is the object itself, which carries the digest too
        assert pod_labels.pop(labels.DIGEST)
    assert pod_labels == {"app": "w", labels.PROJECT: "demo", render.RESOURCE: "w"}


def test_matching_is_by_normalised_repository_as_tilt_does() -> None:
    refs = {"relay": "R", "demo/sink": "S", "localhost:5001/web": "W"}
    obj = workload("Pod")
    obj["spec"]["containers"] = [{"name": n, "image": i} for n, i in [
        ("a", "relay:1.0"), ("b", "relay@sha256:" + "a" * 64), ("c", "demo/sink:dev"), ("d", "localhost:5001/web:x"),
        ("e", "relayx"), ("f", "other/relay"), ("g", "docker.io/library/relay"), ("h", "index.docker.io/demo/sink"),
        ("i", "library/relay:3"), ("j", "Demo/sink")]]
    (out,) = rendered(obj, refs=refs).objects
    assert [c["image"] for c in out["spec"]["containers"]] == [
        "R", "R", "S", "W", "relayx", "other/relay", "R", "S", "R", "Demo/sink"]  # `Demo` is a registry


def test_labels_namespace_order_and_digest() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}}
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "x"}}
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot"}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"keep": "me"}}}
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "a.b"}}
    custom = {"apiVersion": "b/v1", "kind": "Thing", "metadata": {"name": "t"}}
    result = rendered(workload("Deployment"), custom, service, claim, config, account, crd, namespace,
                      secrets=(Secret("token", "value", "s3cr3t"),))
    assert [o["kind"] for o in result.objects] == [
        "Namespace", "CustomResourceDefinition", "ServiceAccount", "ConfigMap", "Secret", "Service",
        "PersistentVolumeClaim", "Deployment", "Thing"]
    for obj in result.objects:
        assert obj["metadata"]["labels"][labels.PROJECT] == "demo"
        assert obj["metadata"]["labels"][labels.DIGEST] == result.digest
    assert next(o for o in result.objects if o["kind"] == "ConfigMap")["metadata"]["labels"]["keep"] == "me"
    assert "namespace" not in result.objects[0]["metadata"]  # cluster-scoped
    assert next(o for o in result.objects if o["kind"] == "PersistentVolumeClaim")["metadata"]["namespace"] == "x"
    assert result.namespaces == ("x",)  # "dev" is defined by the manifests themselves
    assert [w.resource for w in result.workloads] == ["w"]
    assert rendered(workload("Deployment"), custom, service, claim, config, account, crd, namespace,
                    secrets=(Secret("token", "value", "s3cr3t"),)).digest == result.digest
    assert rendered(workload("Deployment"), refs={"relay": "relay:other"}).digest != result.digest


def test_statefulset_claims_carry_the_project_label() -> None:
    sts = workload("StatefulSet", "db")
    sts["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {}}]
    (obj,) = rendered(sts).objects
    assert obj["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"] == {labels.PROJECT: "demo"}


def test_workloads_sharing_a_name_are_told_apart() -> None:
    result = rendered(workload("Deployment", "mail"), workload("Job", "mail"), workload("CronJob", "nightly"))
    assert [w.resource for w in result.workloads] == ["deployment/mail", "job/mail"]


def test_an_object_defined_twice_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"Deployment 'w' in namespace dev is defined twice \(first in test.yaml#1\)"):
        rendered(workload("Deployment"), workload("Deployment"))


def test_yaml_files_globs_multi_documents_and_lists(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\n---\n"
                                     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text("apiVersion: v1\nkind: List\nitems:\n"
                                            "  - {apiVersion: v1, kind: Secret, metadata: {name: three}}\n")
    patterns = (str(tmp_path / "*.yaml"), str(tmp_path / "**" / "*.yml"), str(tmp_path / "a.yaml"))
    spec = KubernetesSpec(context="kind-x", cluster="x", namespace="x", manifests=patterns)
    documents = manifests.load(spec, lambda p: p.name)
    assert [(d.name, d.source) for d in documents] == [("one", "a.yaml#1"), ("two", "a.yaml#2"), ("three", "b.yml#1")]


@pytest.mark.parametrize(("text", "key", "problem"), [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n", "metadata.name", "generateName"),
    ("kind: ConfigMap\nmetadata: {name: x}\n", "apiVersion", "is required"),
    ("- just\n- a list\n", "", "expected a Kubernetes object"),
    ("a: [unclosed\n", "", "invalid YAML"),
])
def test_bad_documents_name_the_file_and_key(text: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        manifests.parse(text, "k8s/bad.yaml")
    assert caught.value.file.startswith("k8s/bad.yaml") and caught.value.key == key
    assert problem in caught.value.problem


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_folders_are_rendered_with_kubectl(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"
                                        "data: {LEVEL: info}\n")
    (tmp_path / "kustomization.yaml").write_text(textwrap.dedent("""\
        resources: [base.yaml]
        namePrefix: dev-
        commonLabels: {tier: mail}
        """))
    spec = KubernetesSpec(context="kind-x", cluster="x", namespace="x", kustomize=(tmp_path,))
    (document,) = manifests.load(spec, lambda p: p.name)
    assert document.name == "dev-settings" and document.obj["metadata"]["labels"] == {"tier": "mail"}
    assert document.source == f"kustomize {tmp_path.name}#1"


def test_helm_charts_are_rendered_with_helm_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bin").mkdir()
    helm = tmp_path / "bin" / "helm"
    # A stand-in for helm: renders one ConfigMap naming the arguments it was given.
    helm.write_text('#!/bin/sh\nprintf "apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: %s}\\n'
                    'data: {args: \\"%s\\"}\\n" "$2" "$*"\n')
    helm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    chart = HelmChart(chart=tmp_path, release="mailman", values=(tmp_path / "v.yaml",), set={"a.b": "1"})
    spec = KubernetesSpec(context="kind-x", cluster="x", namespace="mail", helm=(chart,))
    (document,) = manifests.load(spec, lambda p: "chart")
    assert document.name == "mailman" and document.source == "helm chart chart#1"
    assert document.obj["data"]["args"] == f"template mailman {tmp_path} --namespace mail --values {tmp_path}/v.yaml " \
                                           "--set a.b=1"
