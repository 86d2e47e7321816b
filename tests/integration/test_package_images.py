"""Images from a Debian package list, on the offline path: the real debootstrap, the real engine and swarm.

One debootstrap for the whole module (about two minutes): `devstack ci` finds the list's offline base missing,
builds it on demand, builds the image FROM it and deploys it. Every other test reuses that base. The offline path
is forced with DEVSTACK_OFFLINE=1, so the tests mean the same where a registry serves debian:bookworm-slim.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest

from devstack.config import loader
from devstack.images import package_base, plan
from tests.integration.conftest import Project, copy_demo, tear_down

pytestmark = pytest.mark.docker

DOCKERFILE = package_base.DOCKERFILE + 'CMD ["sleep", "infinity"]\n'
PACKAGES = "# GNU hello: 50 kB, one binary, not in a minimal Debian\nhello\n"


@dataclass
class Built:
    project: Project
    ci_output: str
    base: str  # the offline base's tag
    digest: str  # the list's hash
    image: str  # the image's content tag


def _write_project(tmp: Path) -> Project:
    project = copy_demo(tmp)  # for its unique name, free ports and teardown; the stack is replaced
    (project.root / "hello").mkdir()
    (project.root / "hello/Dockerfile").write_text(DOCKERFILE)
    (project.root / "hello/packages.txt").write_text(PACKAGES)
    (project.root / "stack.yml").write_text("services:\n  hello:\n    image: hello\n")
    (project.root / "devstack.toml").write_text(
        f'[project]\nname = "{project.name}"\n\n[images.hello]\ncontext = "hello"\npackages = "packages.txt"\n\n'
        '[swarm]\nstack_file = "stack.yml"\n')
    project.env["DEVSTACK_OFFLINE"] = "1"
    return project


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient) -> Iterator[Built]:
    project = _write_project(tmp_path_factory.mktemp("pkg"))
    config = loader.load(project.root / "devstack.toml", environ={})
    spec = config.images["hello"]
    assert spec.packages is not None
    base = package_base.offline_tag(spec.packages)
    with contextlib.suppress(docker.errors.ImageNotFound):
        engine.images.remove(base)  # left by an earlier run: this one must build it
    result = project.devstack("ci", "--timeout", "900", timeout=960)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        image = next(t.tag for t in plan.scan([package_base.with_base(spec, None)]))
        yield Built(project, result.stdout + result.stderr, base, spec.packages.digest, image)
    finally:
        tear_down(project)
        with contextlib.suppress(docker.errors.APIError):
            engine.images.remove(base)


def test_ci_builds_the_missing_offline_base_with_progress(built: Built, engine: docker.DockerClient) -> None:
    assert f"FROM {built.base}: the offline base of its packages (DEVSTACK_OFFLINE=1)" in built.ci_output
    assert f"building the offline base {built.base} from packages.txt" in built.ci_output
    assert f"offline base {built.base} ready in" in built.ci_output
    labels = engine.images.get(built.base).labels
    assert labels[package_base.LABEL_PACKAGES] == built.digest
    assert labels[f"{package_base.LABEL_PACKAGES}.names"] == "hello"


def test_a_second_run_reuses_the_base(built: Built, engine: docker.DockerClient) -> None:
    before = engine.images.get(built.base).id
    result = built.project.devstack("base-image")
    assert result.returncode == 0, result.stderr
    assert f"hello: offline base {built.base} exists" in result.stdout
    assert "debootstrap" not in result.stdout and "unpacking" not in result.stdout
    assert engine.images.get(built.base).id == before


def test_the_image_runs_a_binary_of_the_package(built: Built, engine: docker.DockerClient) -> None:
    out = engine.containers.run(built.image, ["hello"], network_mode="none", remove=True)
    assert out.strip() == b"Hello, world!"
    assert engine.images.get(built.image).attrs["Config"]["Cmd"] == ["sleep", "infinity"]


def test_the_dockerfile_run_does_nothing_offline(built: Built, engine: docker.DockerClient) -> None:
    # Without any network: had the RUN called apt-get, the build would fail.
    stream = engine.api.build(path=str(built.project.root / "hello"), buildargs={"BASE": built.base},
                              network_mode="none", nocache=True, rm=True, forcerm=True, decode=True)
    chunks = list(stream)
    output = "".join(str(c.get("stream", "")) for c in chunks)
    assert not [c for c in chunks if "error" in c], chunks
    assert "apt-get update" in output  # the step ran...
    assert "Reading package lists" not in output  # ...and apt did not
    image_id = next(c["aux"]["ID"] for c in chunks if "aux" in c)
    engine.images.remove(image_id)


def test_a_changed_list_needs_a_new_base(built: Built, engine: docker.DockerClient,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(package_base.OFFLINE_ENV, "1")
    (built.project.root / "hello/packages.txt").write_text(PACKAGES + "cowsay\n")
    try:
        config = loader.load(built.project.root / "devstack.toml", environ={})
        images = plan.images(config, engine)
    finally:
        (built.project.root / "hello/packages.txt").write_text(PACKAGES)
    (target,) = images.targets
    assert target.spec.args["BASE"] not in (built.base, package_base.PUBLIC)
    assert target.tag != built.image
    assert images.bases == (target.spec,)  # its base is missing: ci would build it first


def test_a_virtual_name_is_not_installed_as_itself(built: Built, engine: docker.DockerClient,
                                                   tmp_path: Path) -> None:
    # Why the base build checks `dpkg -s` of each name: `awk` is provided by mawk, so apt accepts it, but the
    # Dockerfile's `dpkg -s awk` fails and its RUN would then reach for the network.
    container = engine.containers.create(built.base, ["true"])
    try:
        with (tmp_path / "base.tar").open("wb") as out:
            for chunk in container.export():
                out.write(chunk)
    finally:
        container.remove()
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    subprocess.run(["tar", "-xf", str(tmp_path / "base.tar"), "-C", str(rootfs)], check=True)
    assert package_base.dpkg_knows(rootfs, "hello") and package_base.dpkg_knows(rootfs, "mawk")
    assert not package_base.dpkg_knows(rootfs, "awk")
