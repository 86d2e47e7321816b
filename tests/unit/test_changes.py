"""Which work a batch of saved files calls for: reload, redeploy, rebuild an image, or live-update it."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config import loader
from devstack.config.model import Config
from devstack.engine import changes
from devstack.engine.changes import Changes, classify, sync_target
from tests.unit.conftest import Project

TOML = """
[project]
name = "loop"
[images.relay]
context = "relay"
ignore = ["*.md"]
[images.relay.live_update]
sync = [{ local = "relay/app", remote = "/srv/app" }]
restart = ["sh", "-c", "kill -HUP 1"]
[images.sink]
context = "sink"
[swarm]
stack_file = "stack.yml"
"""


@pytest.fixture
def config(project: Project) -> Config:
    for rel in ("relay/Dockerfile", "relay/app/main.py", "relay/app/lib/util.py", "relay/setup.cfg",
                "relay/notes.md", "relay/debug.log", "sink/Dockerfile", "sink/sink.py"):
        project.write(rel, "x\n")
    project.write("relay/.dockerignore", "*.log\n")
    project.write("stack.yml", "services:\n  relay: {image: relay}\n")
    return project.load(TOML)


def paths(config: Config, *rels: str) -> list[Path]:
    return [config.root / rel for rel in rels]


def test_a_file_under_the_sync_rules_is_live_updated(config: Config) -> None:
    changes = classify(config, paths(config, "relay/app/main.py", "relay/app/lib/util.py"))
    assert changes.live == {"relay": paths(config, "relay/app/main.py", "relay/app/lib/util.py")}
    assert not changes.rebuild and not changes.deploy and not changes.config


def test_a_file_outside_the_sync_rules_rebuilds_the_whole_image(config: Config) -> None:
    changes = classify(config, paths(config, "relay/app/main.py", "relay/setup.cfg"))
    assert changes.rebuild == {"relay": paths(config, "relay/setup.cfg", "relay/app/main.py")}
    assert not changes.live


def test_the_dockerfile_rebuilds(config: Config) -> None:
    assert classify(config, paths(config, "sink/Dockerfile")).rebuild == {"sink": paths(config, "sink/Dockerfile")}


def test_an_edited_dockerignore_rebuilds_even_when_it_excludes_itself(config: Config) -> None:
    (config.root / "relay/.dockerignore").write_text("*\n!app\n")
    assert classify(config, paths(config, "relay/.dockerignore")).rebuild == {
        "relay": paths(config, "relay/.dockerignore")}


def test_ignored_files_do_not_count(config: Config) -> None:
    # relay/.dockerignore excludes *.log; the image's `ignore` list excludes *.md; elsewhere is no context at all
    assert not classify(config, paths(config, "relay/debug.log", "relay/notes.md", "README.md"))


def test_a_deleted_synced_file_needs_a_rebuild(config: Config) -> None:
    gone = config.root / "relay/app/removed.py"
    assert classify(config, [gone]).rebuild == {"relay": [gone]}


def test_config_and_stack_file(config: Config) -> None:
    changes = classify(config, [config.file, config.root / "stack.yml"])
    assert changes.config and changes.deploy
    assert classify(config, [config.root / ".env"]).config


def test_a_file_the_stack_file_names_as_a_config_redeploys(project: Project) -> None:
    for rel in ("relay/Dockerfile", "relay/app/main.py", "sink/Dockerfile"):
        project.write(rel, "x\n")
    project.write("conf/main.cf", "a = 1\n")
    project.write("stack.yml", "services:\n  relay: {image: relay}\nconfigs:\n  main: {file: conf/main.cf}\n")
    config = project.load(TOML)
    changes = classify(config, paths(config, "conf/main.cf"))
    assert changes.deploy and not changes.rebuild and not changes.live and not changes.config


def test_sync_target_maps_below_the_rule(config: Config) -> None:
    relay = config.images["relay"]
    assert sync_target(relay, config.root / "relay/app/lib/util.py") == "/srv/app/lib/util.py"
    assert sync_target(relay, config.root / "relay/setup.cfg") is None


def test_batching_loses_nothing_and_repeats_nothing(config: Config) -> None:
    first = classify(config, paths(config, "relay/app/main.py"))
    first.merge(classify(config, paths(config, "relay/app/main.py", "sink/sink.py")))
    assert first.live == {"relay": paths(config, "relay/app/main.py")}  # the same file twice: synced once
    assert first.rebuild == {"sink": paths(config, "sink/sink.py")}


def test_a_rebuild_supersedes_a_pending_sync_of_the_same_image(config: Config) -> None:
    pending = classify(config, paths(config, "relay/app/main.py"))
    pending.merge(classify(config, paths(config, "relay/setup.cfg")))
    assert pending.live == {}
    assert sorted(pending.rebuild["relay"]) == sorted(paths(config, "relay/app/main.py", "relay/setup.cfg"))
    later = Changes(rebuild={"relay": paths(config, "relay/setup.cfg")})
    later.merge(classify(config, paths(config, "relay/app/main.py")))
    assert later.live == {} and config.root / "relay/app/main.py" in later.rebuild["relay"]


def test_a_broken_dockerignore_counts_every_file_and_does_not_raise(config: Config) -> None:
    (config.root / "relay/.dockerignore").write_text("a[b\n")  # a pattern Docker refuses
    changes = classify(config, paths(config, "relay/debug.log"))
    assert changes.rebuild == {"relay": paths(config, "relay/debug.log")}  # the rebuild will report the pattern


K8S_TOML = """
[project]
name = "loop"
provider = "kind"
[images.relay]
context = "relay"
[kubernetes]
manifests = ["k8s/**/*.yaml"]
kustomize = ["deploy/overlays/dev"]
[[kubernetes.helm]]
chart = "charts/web"
values = ["values-dev.yaml"]
"""
OVERLAY = """
resources: [../../base, https://example.test/remote.yaml]
patches: [{path: ../../patches/replicas.yaml}]
configMapGenerator: [{name: settings, files: [app.conf=../../config/app.conf]}]
"""


def test_kubernetes_manifests_kustomize_and_helm_inputs_redeploy(project: Project) -> None:
    for rel in ("relay/Dockerfile", "k8s/relay.yaml", "k8s/extra/sink.yaml", "k8s/README.md",
                "deploy/base/kustomization.yaml", "deploy/base/web.yaml", "deploy/patches/replicas.yaml",
                "deploy/config/app.conf", "deploy/other/unused.yaml", "charts/web/Chart.yaml",
                "charts/web/templates/web.yaml", "values-dev.yaml", "notes.txt"):
        project.write(rel, "resources: [web.yaml]\n" if rel.endswith("kustomization.yaml") else "x\n")
    project.write("deploy/overlays/dev/kustomization.yaml", OVERLAY)
    config = project.load(K8S_TOML)
    for rel in ("k8s/relay.yaml", "k8s/extra/sink.yaml", "k8s/new.yaml", "deploy/overlays/dev/kustomization.yaml",
                "deploy/base/web.yaml", "deploy/patches/replicas.yaml", "deploy/config/app.conf",
                "charts/web/templates/web.yaml", "values-dev.yaml"):
        changes = classify(config, paths(config, rel))
        assert changes.deploy and not changes.rebuild, rel
    for rel in ("k8s/README.md", "notes.txt", "relay/Dockerfile", "deploy/other/unused.yaml"):
        assert not classify(config, paths(config, rel)).deploy, rel


def test_watched_roots_include_contexts_outside_the_project_folder(tmp_path: Path) -> None:
    """The demo's Kubernetes profile lives in stacks/demo/k8s and builds ../relay: an edit there must be seen."""
    (tmp_path / "relay").mkdir()
    (tmp_path / "relay" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "k8s" / "inner").mkdir(parents=True)
    (tmp_path / "k8s" / "devstack.toml").write_text(
        '[project]\nname = "demo"\nprovider = "kind"\n[images.relay]\ncontext = "../relay"\n'
        '[images.inner]\ncontext = "inner"\n[kubernetes]\nmanifests = ["*.yaml"]\n')
    (tmp_path / "k8s" / "inner" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "k8s" / "app.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    config = loader.load(tmp_path / "k8s" / "devstack.toml")
    assert set(changes.roots(config)) == {(tmp_path / "k8s").resolve(), (tmp_path / "relay").resolve()}
