"""[kubernetes] and [secrets] in devstack.toml: defaults, derived contexts, and errors that name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from devstack.cli import main
from devstack.config import loader
from devstack.config.secrets import DEFAULT_ALPHABET
from devstack.errors import ConfigError


def load(tmp_path: Path, provider: str, kubernetes: str, extra: str = "") -> object:
    (tmp_path / "k8s").mkdir(exist_ok=True)
    (tmp_path / "k8s" / "app.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    path = tmp_path / "devstack.toml"
    path.write_text(f'[project]\nname = "mail_lab"\nprovider = "{provider}"\n\n{kubernetes}\n{extra}')
    return loader.load(path, environ={})


@pytest.mark.parametrize(("provider", "cluster", "context"), [
    ("kind", "mail-lab", "kind-mail-lab"), ("k3d", "mail-lab", "k3d-mail-lab"), ("minikube", "minikube", "minikube")])
def test_contexts_derive_from_the_cluster_name(tmp_path: Path, provider: str, cluster: str, context: str) -> None:
    config = load(tmp_path, provider, '[kubernetes]\nmanifests = ["k8s/*.yaml"]')
    spec = config.kubernetes  # type: ignore[attr-defined]
    assert (spec.cluster, spec.context, spec.namespace) == (cluster, context, "mail-lab")
    assert spec.manifests == (str(tmp_path.resolve() / "k8s" / "*.yaml"),)


def test_everything_set(tmp_path: Path) -> None:
    (tmp_path / "chart").mkdir()
    (tmp_path / "values.yaml").write_text("a: 1\n")
    config = load(tmp_path, "context", """\
[kubernetes]
context = "docker-desktop"
namespace = "mail"
kustomize = ["k8s"]
allowed_contexts = ["lab-*"]
registry = "localhost:5001"
registry_from_cluster = "kind-registry:5000"

[[kubernetes.helm]]
chart = "chart"
values = ["values.yaml"]
set = { "web.replicas" = 2 }
""", '[secrets.api-key]\nlength = 40\nkey = "token"\n\n[secrets.db-password]\n')
    spec = config.kubernetes  # type: ignore[attr-defined]
    assert (spec.context, spec.cluster, spec.namespace) == ("docker-desktop", "", "mail")
    assert spec.kustomize == ((tmp_path / "k8s").resolve(),) and spec.allowed_contexts == ("lab-*",)
    assert (spec.registry, spec.registry_from_cluster) == ("localhost:5001", "kind-registry:5000")
    (chart,) = spec.helm
    assert chart.release == "mail-lab" and chart.set == {"web.replicas": "2"}
    assert [(s.name, s.length, s.key) for s in config.secrets] == [  # type: ignore[attr-defined]
        ("api-key", 40, "token"), ("db-password", 32, "value")]
    assert config.secrets[1].alphabet == DEFAULT_ALPHABET  # type: ignore[attr-defined]


@pytest.mark.parametrize("provider", ["kind", "k3d"])
def test_node_image_of_a_created_cluster(tmp_path: Path, provider: str) -> None:
    config = load(tmp_path, provider, '[kubernetes]\nmanifests = ["k8s/*"]\nnode_image = "kindest/node:v1.33.1"')
    assert config.kubernetes.node_image == "kindest/node:v1.33.1"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("provider", "kubernetes", "key", "problem"), [
    ("kind", "", "kubernetes", "is required for provider 'kind'"),
    ("kind", "[kubernetes]\nnamespace = \"x\"", "kubernetes.manifests", "is required"),
    ("kind", '[kubernetes]\nmanifests = ["none/*.yaml"]', "kubernetes.manifests[0]", "matches no file"),
    ("kind", '[kubernetes]\nmanifests = ["k8s/*"]\ncontext = "x"', "kubernetes.context", "set `cluster` instead"),
    ("context", '[kubernetes]\nmanifests = ["k8s/*"]', "kubernetes.context", "is required"),
    ("context", '[kubernetes]\nmanifests = ["k8s/*"]\ncontext = "c"\ncluster = "x"', "kubernetes.cluster",
     "never creates or deletes"),
    ("kind", '[kubernetes]\nmanifests = ["k8s/*"]\nnamespace = "Mail"', "kubernetes.namespace", "DNS-1123"),
    ("kind", '[kubernetes]\nmanifests = ["k8s/*"]\ncluster = "a_b"', "kubernetes.cluster", "lower-case"),
    ("kind", '[kubernetes]\nmanifests = ["k8s/*"]\nregistry_from_cluster = "r:5000"',
     "kubernetes.registry_from_cluster", "needs `registry`"),
    ("kind", '[kubernetes]\nmanifests = ["k8s/*"]\nmanifest = 1', "kubernetes.manifest", "did you mean 'manifests'"),
    ("kind", '[kubernetes]\nmanifests = ["k8s/*"]\n[[kubernetes.helm]]\nchart = "nope"', "kubernetes.helm[0].chart",
     "does not exist"),
    ("swarm", '[kubernetes]\nmanifests = ["k8s/*"]', "kubernetes", "Kubernetes providers only"),
    ("minikube", '[kubernetes]\nmanifests = ["k8s/*"]\nnode_image = "x:1"', "kubernetes.node_image",
     "with kind or k3d"),
    ("kind", '[kubernetes]\nmanifests = ["k8s/*"]\nnode_image = " "', "kubernetes.node_image", "empty string"),
])
def test_errors_name_the_key(tmp_path: Path, provider: str, kubernetes: str, key: str, problem: str) -> None:
    if provider == "swarm":
        (tmp_path / "stack.yml").write_text("services: {a: {image: x}}\n")
        kubernetes = '[swarm]\nstack_file = "stack.yml"\n' + kubernetes
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, provider, kubernetes)
    assert caught.value.key == key and problem in caught.value.problem


@pytest.mark.parametrize(("secret", "key", "problem"), [
    ("[secrets.Admin]", "secrets.Admin", "lower-case"),
    ("[secrets.a]\nlength = 4", "secrets.a.length", "from 8 to 4096"),
    ("[secrets.a]\nalphabet = \"aaaa\"", "secrets.a.alphabet", "two different characters"),
    ("[secrets.a]\nkey = \"a b\"", "secrets.a.key", "expected letters"),
])
def test_secret_errors(tmp_path: Path, secret: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "kind", '[kubernetes]\nmanifests = ["k8s/*"]', secret)
    assert caught.value.key == key and problem in caught.value.problem


def test_the_demo_profile_loads() -> None:
    config = loader.load(Path(__file__).resolve().parents[2] / "stacks" / "demo" / "k8s" / "devstack.toml")
    assert config.provider == "kind" and config.kubernetes is not None
    assert config.kubernetes.context == "kind-demo" and config.secrets[0].name == "inject-password"


def test_cli_options() -> None:
    runner = CliRunner()
    assert "--allow-context NAME" in runner.invoke(main.cli, ["--help"]).output
    assert "--cluster" in runner.invoke(main.cli, ["down", "--help"]).output
