"""Clusters and the context guard: the command lines devstack builds for kind, k3d, minikube (run through fake
CLIs on PATH that record their arguments), the install hint when a CLI is missing, the KEP-1755 registry
ConfigMap, and the guard that refuses contexts that are not dev clusters."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from k8s_env import Env

from devstack.cli import boundary, main
from devstack.config import loader
from devstack.config.model import Config, HelmChart
from devstack.errors import EngineUnavailable, UsageError
from devstack.formats import reference
from devstack.providers.base import DownOptions
from devstack.providers.kubernetes import clusters, delivery, guard, manifests, tools
from devstack.providers.kubernetes.clusters import K3d, Kind, Minikube, Registry

IMAGES = {"relay": "relay:0123456789abcdef", "sink": "sink:fedcba9876543210"}
FAKE_KIND = """\
#!/bin/sh
echo "kind $*" >> "$FAKE_LOG"
case "$1 $2" in
  "get clusters") cat "$FAKE_STATE" 2>/dev/null || true ;;
  "create cluster") cat > /dev/null; echo demo > "$FAKE_STATE" ;;
  "delete cluster") rm -f "$FAKE_STATE" ;;
  "get nodes") echo demo-control-plane ;;
esac
"""
KIND_TOML = """\
[project]
name = "demo"
provider = "kind"

[kubernetes]
manifests = ["k8s/*.yaml"]
"""


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH of fake CLIs (each records its arguments) before the system's basic commands."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("k3d", "minikube", "helm", "kubectl", "docker"):
        script(folder, name, f'#!/bin/sh\necho "{name} $*" >> "$FAKE_LOG"\n')
    script(folder, "kind", FAKE_KIND)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.log"))
    monkeypatch.setenv("FAKE_STATE", str(tmp_path / "kind-clusters"))
    return folder


def script(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)


def calls(bin_dir: Path) -> list[str]:
    log = bin_dir.parent / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_kind_command_lines(bin_dir: Path) -> None:
    kind = Kind("demo")
    assert kind.context == "kind-demo"
    assert kind.create_argv() == [str(bin_dir / "kind"), "create", "cluster", "--name", "demo", "--wait", "120s"]
    assert kind.load_argv(["relay:1", "sink:2"]) == [str(bin_dir / "kind"), "load", "docker-image", "--name", "demo",
                                                    "relay:1", "sink:2"]
    wired = Kind("demo", Registry("localhost:5001", "kind-registry:5000"))
    assert wired.create_argv()[-2:] == ["--config", "-"]
    steps = wired.registry_argvs(["demo-control-plane"], Registry("localhost:5001", "kind-registry:5000"))
    docker = str(bin_dir / "docker")
    hosts = '[host."http://kind-registry:5000"]\n'
    assert steps == [
        ([docker, "exec", "demo-control-plane", "mkdir", "-p", "/etc/containerd/certs.d/localhost:5001"], None),
        ([docker, "exec", "-i", "demo-control-plane", "cp", "/dev/stdin",
          "/etc/containerd/certs.d/localhost:5001/hosts.toml"], hosts),
        ([docker, "exec", "demo-control-plane", "mkdir", "-p", "/etc/containerd/certs.d/kind-registry:5000"], None),
        ([docker, "exec", "-i", "demo-control-plane", "cp", "/dev/stdin",
          "/etc/containerd/certs.d/kind-registry:5000/hosts.toml"], hosts),
        ([docker, "network", "connect", "kind", "kind-registry"], None)]
    same = wired.registry_argvs(["n"], Registry("localhost:5001", "localhost:5001"), "lab")
    assert [argv[-1] for argv, _ in same] == ["/etc/containerd/certs.d/localhost:5001",
                                              "/etc/containerd/certs.d/localhost:5001/hosts.toml"]


def test_a_node_image_reaches_kind_and_k3d(bin_dir: Path) -> None:
    image = ["--image", "devstack.test/kind-node:1"]
    assert Kind("demo", image="devstack.test/kind-node:1").create_argv()[-2:] == image
    assert K3d("demo", image="devstack.test/kind-node:1").create_argv()[-2:] == image
    registry = Registry("localhost:5001", "kind-registry:5000")
    assert Kind("demo", registry, "devstack.test/kind-node:1").create_argv()[-4:] == [*image, "--config", "-"]


def test_k3d_and_minikube_command_lines(bin_dir: Path) -> None:
    k3d = K3d("demo", Registry("localhost:5001", "k3d-registry.localhost:5000"))
    assert k3d.context == "k3d-demo"
    assert k3d.create_argv() == [str(bin_dir / "k3d"), "cluster", "create", "demo", "--wait",
                                 "--registry-use", "k3d-registry.localhost:5000"]
    assert k3d.load_argv(["relay:1"]) == [str(bin_dir / "k3d"), "image", "import", "--cluster", "demo", "relay:1"]
    minikube = Minikube("minikube")
    assert minikube.context == "minikube"
    assert minikube.create_argv() == [str(bin_dir / "minikube"), "start", "--profile", "minikube"]
    assert minikube.load_argv("relay:1") == [str(bin_dir / "minikube"), "image", "load", "--profile", "minikube",
                                             "relay:1"]
    assert minikube.exists()  # `minikube status` exited 0: running
    script(bin_dir, "minikube", "#!/bin/sh\nexit 7\n")  # what it exits with for a stopped profile
    assert not minikube.exists()


def test_helm_and_kustomize_command_lines(bin_dir: Path, tmp_path: Path) -> None:
    chart = HelmChart(chart=tmp_path / "chart", release="mail", values=(tmp_path / "dev.yaml",),
                      set={"web.replicas": "1", "image.tag": "dev"})
    assert manifests.helm_argv(chart, "demo") == [
        str(bin_dir / "helm"), "template", "mail", str(tmp_path / "chart"), "--namespace", "demo",
        "--values", str(tmp_path / "dev.yaml"), "--set", "web.replicas=1", "--set", "image.tag=dev"]
    assert manifests.kustomize_argv(tmp_path) == [str(bin_dir / "kubectl"), "kustomize", str(tmp_path)]


@pytest.mark.parametrize(("call", "tool", "hint"), [
    (lambda: Kind("demo").exists(), "kind", "kind.sigs.k8s.io"),
    (lambda: K3d("demo").create(), "k3d", "k3d.io"),
    (lambda: Minikube("minikube").load(["x:1"]), "minikube", "minikube.sigs.k8s.io"),
    (lambda: manifests.kustomize_argv(Path(".")), "kubectl", "kubernetes.io/docs/tasks/tools"),
    (lambda: manifests.helm_argv(HelmChart(chart=Path("c"), release="r"), "ns"), "helm", "helm.sh/docs"),
])
def test_a_missing_cli_gives_an_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: object,
                                             tool: str, hint: str) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder
    with pytest.raises(tools.ToolMissing) as caught:
        call()  # type: ignore[operator]
    assert f"`{tool}` command is not installed" in str(caught.value) and hint in str(caught.value)
    assert caught.value.exit_code == 1


def test_a_failing_cli_shows_its_output(bin_dir: Path) -> None:
    script(bin_dir, "kind", "#!/bin/sh\necho 'ERROR: failed to create cluster: docker not running' >&2\nexit 1\n")
    with pytest.raises(Exception, match="docker not running") as caught:
        Kind("demo").create()
    assert "creating kind cluster 'demo' failed (exit 1)" in str(caught.value)


def test_kind_up_creates_the_cluster_loads_images_and_down_cluster_deletes_it(env: Env, bin_dir: Path) -> None:
    env.write()
    (env.root / "devstack.toml").write_text(KIND_TOML)
    provider = env.provider()
    assert provider.spec.context == "kind-demo"
    notes: list[str] = []
    provider.prepare(notes.append)
    assert provider.created_cluster
    provider.deliver(["relay:0123456789abcdef"])
    assert notes[0] == "creating kind cluster 'demo' (context kind-demo)"
    assert re.fullmatch(r"created kind cluster 'demo' in \d+s", notes[1])
    assert notes[2:] == ["loading relay:0123456789abcdef into kind cluster 'demo'"]
    env.cluster.load_images("docker.io/library/sink:fedcba9876543210")  # already on the node
    provider.apply(provider.plan(IMAGES))
    report = provider.down(DownOptions(cluster=True))
    assert report.removed == {"clusters": 1}
    assert env.provider().down(DownOptions()).notes == [
        "cluster behind context 'kind-demo' does not exist: nothing to remove"]
    assert calls(bin_dir) == [
        "kind get clusters",
        "kind create cluster --name demo --wait 120s",
        "kind load docker-image --name demo relay:0123456789abcdef",
        "kind get clusters",
        "kind delete cluster --name demo",
        "kind get clusters"]


def test_images_missing_from_the_nodes_are_delivered_before_apply(env: Env, bin_dir: Path) -> None:
    env.write()
    (env.root / "devstack.toml").write_text(KIND_TOML)
    (bin_dir.parent / "kind-clusters").write_text("demo\n")
    env.cluster.load_images("docker.io/library/relay:0123456789abcdef")
    provider = env.provider()
    provider.prepare()
    provider.apply(provider.plan(IMAGES))  # cache hits: nothing built, so nothing delivered yet
    assert "kind load docker-image --name demo sink:fedcba9876543210" in calls(bin_dir)
    assert not any("relay:" in call for call in calls(bin_dir))


def test_local_registry_hosting_is_read_and_written(env: Env) -> None:
    provider = env.provider()
    assert delivery.announced(provider.api) is None
    delivery.announce(provider.api, Registry("localhost:5001", "kind-registry:5000"))
    config_map = env.kube.store.get(env.kube.store.kind_of("ConfigMap"), "kube-public", "local-registry-hosting")
    assert config_map is not None
    assert "host: localhost:5001" in config_map["data"]["localRegistryHosting.v1"]
    assert delivery.announced(provider.api) == Registry("localhost:5001", "kind-registry:5000")
    provider.prepare()  # provider 'context' never writes to the cluster, but uses what it announces
    assert delivery.refs({"relay": "relay:1"}, provider._registry) == {"relay": "kind-registry:5000/relay:1"}
    plan = provider.plan(IMAGES)
    assert plan.resource_images == {"relay": "relay:0123456789abcdef", "sink": "sink:fedcba9876543210"}


def test_node_image_names_are_normalised() -> None:
    assert reference.full("relay:1") == "docker.io/library/relay:1"
    assert reference.full("demo/relay:1") == "docker.io/demo/relay:1"
    assert reference.full("localhost:5001/relay:1") == "localhost:5001/relay:1"
    assert reference.full("ghcr.io/x/relay:1") == "ghcr.io/x/relay:1"


# --- the context guard ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("context", ["kind-demo", "k3d-mail", "minikube", "docker-desktop", "rancher-desktop"])
def test_local_dev_contexts_are_allowed(context: str) -> None:
    guard.check(context, (), None)


def test_other_contexts_are_refused_unless_listed_or_allowed_once() -> None:
    with pytest.raises(guard.ContextRefused) as caught:
        guard.check("prod", (), None)
    message = str(caught.value)
    assert "refusing to use kubeconfig context 'prod'" in message
    assert "kubernetes.allowed_contexts" in message and "--allow-context prod" in message
    guard.check("staging-lab", ("staging-*",), None)
    guard.check("prod", (), "prod")
    with pytest.raises(UsageError, match="lifts the guard for that context only"):
        guard.check("prod", (), "staging-lab")


def use_context(env: Env, context: str, kubernetes: str = "") -> Config:
    path = env.write(kubernetes=kubernetes)
    path.write_text(path.read_text().replace('context = "kind-demo"', f'context = "{context}"'))
    return loader.load(path)


def test_the_guard_stops_the_provider_before_any_request(env: Env) -> None:
    config = use_context(env, "staging-lab")
    with pytest.raises(guard.ContextRefused):
        env.provider(config)
    assert env.kube.requests() == []
    env.provider(config, allow_context="staging-lab").prepare()
    assert env.kube.requests("GET", "/version")


def test_allow_context_on_the_command_line(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    use_context(env, "staging-lab")
    path = env.root / "devstack.toml"
    assert boundary.run(main.cli, ["-f", str(path), "status"]) == 1
    assert "refusing to use kubeconfig context 'staging-lab'" in capsys.readouterr().err
    assert boundary.run(main.cli, ["-f", str(path), "--allow-context", "staging-lab", "status"]) == 0
    assert boundary.run(main.cli, ["-f", str(path), "--allow-context", "prod", "status"]) == 2
    assert boundary.run(main.cli, ["status", "--allow-context", "staging-lab", "-f", str(path)]) == 0
    assert boundary.run(main.cli, ["status", "-f", str(path), "--allow-context", "prod"]) == 2


def test_clients_use_the_configured_context_not_the_current_one(env: Env) -> None:
    # The kubeconfig's current-context is 'prod' (another server); the env fixture fails the test if it is used.
    provider = env.provider()
    provider.prepare()
    assert provider.api.host == env.kube.url
    assert os.environ["KUBECONFIG"] == str(env.kubeconfig)


def test_an_unknown_context_lists_the_known_ones(env: Env) -> None:
    provider = env.provider(use_context(env, "ghost", kubernetes='allowed_contexts = ["ghost"]'))
    with pytest.raises(EngineUnavailable, match=r"has no context 'ghost'.*kind-demo, staging-lab, prod"):
        provider.prepare()


def test_context_provider_refuses_to_delete_its_cluster(env: Env) -> None:
    with pytest.raises(UsageError, match="never deletes clusters"):
        env.provider().down(DownOptions(cluster=True))
    assert isinstance(clusters.for_spec("context", env.config().kubernetes), clusters.Existing)  # type: ignore[arg-type]


def test_kubeconfig_path_from_devstack_toml(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    provider = env.provider(env.config(kubernetes=f'kubeconfig = "{env.kubeconfig}"'))
    provider.prepare()
    assert provider.api.host == env.kube.url


def test_an_api_server_whose_storage_is_down_is_away_naming_etcd(env: Env) -> None:
    """/version answers while etcd is down, and reads then hang or fail one by one; the readiness probe of every
    observation window says why at once, and the observer takes the engine for away until it passes again."""
    provider = env.provider()
    try:
        assert provider.wait_for_change(0.1) in (True, False)
        env.kube.store.storage_down = True
        with pytest.raises(EngineUnavailable, match=r"answers, but its storage does not: \[-\]etcd failed"):
            provider.wait_for_change(0.1)
        env.kube.store.storage_down = False
        provider.wait_for_change(0.1)
    finally:
        provider.close()
