"""The KumoMTA stack (stacks/kumomta): both variants render (kubectl kustomize) and validate against the
Kubernetes 1.30 and 1.37 schemas (the oldest release users run, and the test cluster's); they differ only in
images; the policy files pass `luac5.4 -p`; and the wiring bugs of the demo it comes from cannot come back: policy
and manifests agree on every environment variable, serviceNames are headless Services, the per-pod names kumod
publishes to exist, and every Service port reaches a container port."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from devstack.config import loader
from devstack.config.secret_store import Secret
from devstack.providers.kubernetes import manifests, render

STACK = Path(__file__).resolve().parents[2] / "stacks" / "kumomta"
POLICY = STACK / "k8s" / "policy"
VERSIONS = ("1.30", "1.37")  # the oldest release users run, and the test cluster's
REAL_IMAGE = "ghcr.io/kumocorp/kumomta:2025.01.29-833f82a8"
Json = dict[str, Any]


def rendered(config_file: str) -> list[Json]:
    config = loader.load(STACK / config_file, environ={})
    assert config.kubernetes is not None
    documents = manifests.load(config.kubernetes, config.display)
    refs = {spec.ref: f"{spec.ref}:0123456789abcdef" for spec in config.images.values()}
    secrets = [Secret(s.name, s.key, "x" * s.length) for s in config.secrets]
    inputs = render.Inputs(project=config.project, namespace=config.kubernetes.namespace, refs=refs, secrets=secrets)
    return list(render.render(documents, inputs, lambda _api, kind: kind != "Namespace").objects)


VARIANTS = {"offline": rendered("devstack.toml"), "upstream": rendered("upstream.toml")}


def find(objects: list[Json], kind: str, name: str) -> Json:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def container(objects: list[Json], name: str) -> Json:
    return find(objects, "StatefulSet", name)["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_both_variants_render_valid_objects(variant: str, version: str) -> None:
    for obj in VARIANTS[variant]:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{variant} for {version}: {obj['kind']} {obj['metadata']['name']}: {err.message}")
    kinds = {(o["kind"], o["metadata"]["name"]) for o in VARIANTS[variant]}
    assert {("StatefulSet", "kumomta"), ("StatefulSet", "kumomta-tsa"), ("Deployment", "dragonfly"),
            ("Deployment", "sink"), ("ConfigMap", "kumomta-policy"), ("ConfigMap", "tsa-policy"),
            ("Secret", "http-listener-keys")} <= kinds


def test_the_variants_differ_in_images_only() -> None:
    def without_images(objects: list[Json]) -> list[Json]:
        stripped = copy.deepcopy(objects)
        for obj in stripped:
            obj["metadata"]["labels"].pop("dev.devstack.digest", None)
            for item in obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                item.pop("image")
                item.pop("imagePullPolicy", None)
                if obj["metadata"]["name"] == "dragonfly":
                    item.pop("args", None)  # dragonfly's flags; redis-server takes its own
        return stripped

    assert without_images(VARIANTS["offline"]) == without_images(VARIANTS["upstream"])
    # The upstream variant runs KumoMTA's pinned image as it is: devstack's image for it is one FROM line.
    assert container(VARIANTS["upstream"], "kumomta")["image"] == "ghcr.io/kumocorp/kumomta:0123456789abcdef"
    assert container(VARIANTS["upstream"], "kumomta-tsa")["image"] == "ghcr.io/kumocorp/kumomta:0123456789abcdef"
    dockerfile = (STACK / "upstream" / "kumomta" / "Dockerfile").read_text()
    assert [line for line in dockerfile.splitlines() if line and not line.startswith("#")] == [f"FROM {REAL_IMAGE}"]
    assert container(VARIANTS["offline"], "kumomta")["image"] == "kumomta-standin:0123456789abcdef"
    store = find(VARIANTS["offline"], "Deployment", "dragonfly")["spec"]["template"]["spec"]["containers"][0]
    assert store["image"] == "dragonfly-standin:0123456789abcdef"


@pytest.mark.parametrize("policy", sorted(POLICY.glob("*.lua")), ids=lambda p: p.name)
def test_policy_is_valid_lua(policy: Path) -> None:
    luac = shutil.which("luac5.4")
    assert luac, "luac5.4 is missing: `make test` installs Debian's lua5.4"
    result = subprocess.run([luac, "-p", str(policy)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def read_by(source: Path) -> set[str]:
    """Environment variables a policy (os.getenv, setting, setting_list) or a stand-in (env.get, environ.get)
    reads: the stand-ins' own test hooks (KUMOMTA_STANDIN_*) aside."""
    text = source.read_text(encoding="utf-8")
    names = re.findall(r"(?:getenv|setting|setting_list|env\.get|environ\.get)\s*\(?\s*['\"]([A-Z_]+)['\"]", text)
    return {name for name in names if not name.startswith("KUMOMTA_STANDIN_")}


@pytest.mark.parametrize(("workload", "policy", "standin"), [("kumomta", "init.lua", "kumod.py"),
                                                             ("kumomta-tsa", "tsa_init.lua", "tsa_daemon.py")])
def test_policy_and_manifest_agree_on_the_environment(workload: str, policy: str, standin: str) -> None:
    env = {item["name"] for item in container(VARIANTS["upstream"], workload)["env"]}
    read = read_by(POLICY / policy)
    assert read, f"{policy} reads no environment variable: the pattern is out of date"
    assert read <= env, f"{policy} reads {sorted(read - env)}, which {workload} does not set"
    unread = {name for name in env if name.startswith("KUMOMTA_")} - read
    assert not unread, f"{workload} sets {sorted(unread)}, which {policy} never reads"
    assert read_by(STACK / "standins" / "kumomta" / standin) <= read, f"the {standin} stand-in reads other names"


@pytest.mark.parametrize("workload", ["kumomta", "kumomta-tsa"])
def test_service_name_is_a_headless_service_of_the_pods(workload: str) -> None:
    objects = VARIANTS["upstream"]
    statefulset = find(objects, "StatefulSet", workload)
    service = find(objects, "Service", statefulset["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= statefulset["spec"]["template"]["metadata"]["labels"].items()


def test_kumod_publishes_to_every_tsa_replica_by_its_pod_name() -> None:
    objects = VARIANTS["upstream"]
    tsa = find(objects, "StatefulSet", "kumomta-tsa")
    env = {item["name"]: item.get("value") for item in container(objects, "kumomta")["env"]}
    expected = [f"http://kumomta-tsa-{i}.{tsa['spec']['serviceName']}.$(POD_NAMESPACE).svc.cluster.local:8008"
                for i in range(tsa["spec"]["replicas"])]
    assert env["KUMOMTA_TSA_PUBLISH_HOSTS"].split(",") == expected
    assert "POD_NAMESPACE" in list(env)[:list(env).index("KUMOMTA_TSA_PUBLISH_HOSTS")]  # defined before use


def test_every_service_port_reaches_a_container_port() -> None:
    objects = VARIANTS["upstream"]
    workloads = [o for o in objects if o["kind"] in ("StatefulSet", "Deployment")]
    for service in (o for o in objects if o["kind"] == "Service"):
        pods = [w["spec"]["template"] for w in workloads
                if service["spec"]["selector"].items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert pods, f"Service {service['metadata']['name']} selects no pod"
        ports = {(p.get("name"), p["containerPort"]) for pod in pods for c in pod["spec"]["containers"]
                 for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert any(target in pair for pair in ports), f"{service['metadata']['name']}: {target} is no port"


def test_every_container_port_is_probed_or_served() -> None:
    """The demo declared ports nothing listened on (8080, 2500): each declared port here is a probe's or a
    Service's."""
    objects = VARIANTS["upstream"]
    targets = {p.get("targetPort") for o in objects if o["kind"] == "Service" for p in o["spec"]["ports"]}
    for workload in (o for o in objects if o["kind"] in ("StatefulSet", "Deployment")):
        for item in workload["spec"]["template"]["spec"]["containers"]:
            for port in item.get("ports", []):
                assert port["name"] in targets, f"{workload['metadata']['name']}: port {port['name']} unused"
