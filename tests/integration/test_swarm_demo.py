"""The walking skeleton end to end on the real engine: `ci` brings the demo up and proves mail flows, a second
`ci` changes nothing, `down` leaves the engine as it was. Tests run in file order on one deployment."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import httpx
import pytest

from tests.integration.conftest import Project, copy_demo, labelled, tear_down
from tests.unit.test_ports import waiting_sockets


def engine_listing(engine: docker.DockerClient) -> dict[str, set[str]]:
    """What `docker service/network/config/secret ls` show."""
    swarm = engine.info()["Swarm"].get("ControlAvailable")
    return {
        "services": {s.name for s in engine.services.list()} if swarm else set(),
        "networks": {n.name for n in engine.networks.list()},
        "configs": {c.name for c in engine.configs.list()} if swarm else set(),
        "secrets": {s.name for s in engine.secrets.list()} if swarm else set(),
    }


@pytest.fixture(scope="module")
def before(engine: docker.DockerClient) -> dict[str, set[str]]:
    return engine_listing(engine)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient,
             before: dict[str, set[str]]) -> Iterator[Project]:
    project = copy_demo(tmp_path_factory.mktemp("swarm"))
    # Unique contexts: both images are really built, whatever an earlier run left in the engine.
    for source in ("stacks/demo/relay/relay.py", "sink/devstack_sink/__init__.py"):
        with (project.root / source).open("a") as file:
            file.write(f"\n# build marker {project.name}\n")
    result = project.devstack("ci", "--timeout", "240")
    project.first_run = result  # type: ignore[attr-defined]
    yield project
    tear_down(project)


def test_ci_builds_deploys_and_proves_mail_flows(deployed: Project) -> None:
    result = deployed.first_run  # type: ignore[attr-defined]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "relay    built" in result.stdout and "sink     built" in result.stdout
    assert "inject (http-inject): 2 accepted, 2 delivered to the sink" in result.stdout
    status = deployed.status()
    assert {"relay", "sink"} <= status.keys()
    assert all(status[name]["ready"] for name in ("relay", "sink"))


def test_injection_through_the_relay_reaches_the_sink(deployed: Project) -> None:
    stats = f"http://127.0.0.1:{deployed.port('SINK_HTTP_PORT')}/stats"
    inject = f"http://127.0.0.1:{deployed.port('RELAY_PORT')}/api/inject/v1"
    before = httpx.get(stats).json()["recipients"]
    payload = {"envelope_sender": "it@devstack.test",
               "content": {"subject": "integration", "text_body": "hello", "from": {"email": "it@devstack.test"}},
               "recipients": [{"email": f"r{i}@example.test"} for i in range(3)]}
    assert httpx.post(inject, json=payload).status_code == 401
    answer = httpx.post(inject, json=payload, auth=("demo", deployed.secret("inject-password")), timeout=30).json()
    assert answer["success_count"] == 3 and answer["fail_count"] == 0
    assert httpx.get(stats).json()["recipients"] == before + 3


def test_the_dev_secret_never_shows(deployed: Project, engine: docker.DockerClient) -> None:
    """The relay's password is a generated dev secret: a swarm secret, never an environment value, and never in
    what devstack prints."""
    password = deployed.secret("inject-password")
    assert len(password) == 24
    first = deployed.first_run  # type: ignore[attr-defined]
    printed = [first.stdout, first.stderr, deployed.devstack("status", "--json").stdout,
               deployed.devstack("logs").stdout, deployed.devstack("smoke").stdout]
    assert all(password not in text for text in printed)
    relay = engine.services.get(f"{deployed.name}_relay").attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert password not in str(relay.get("Env"))
    assert [s["SecretName"].startswith(f"{deployed.name}_inject-password_") for s in relay["Secrets"]] == [True]


def test_second_ci_builds_nothing_and_updates_no_service(deployed: Project, engine: docker.DockerClient) -> None:
    services = engine.services.list(filters={"label": f"dev.devstack.project={deployed.name}"})
    versions = {s.name: (s.attrs["Version"]["Index"], s.attrs["UpdatedAt"]) for s in services}
    images = {i.id for i in engine.images.list()}
    result = deployed.devstack("ci", "--timeout", "120")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "relay    image unchanged" in result.stdout and "sink     image unchanged" in result.stdout
    assert "deployment unchanged" in result.stdout
    assert {i.id for i in engine.images.list()} == images
    for service in engine.services.list(filters={"label": f"dev.devstack.project={deployed.name}"}):
        service.reload()
        assert (service.attrs["Version"]["Index"], service.attrs["UpdatedAt"]) == versions[service.name]


def test_down_leaves_nothing_behind_and_is_idempotent(deployed: Project, engine: docker.DockerClient,
                                                      before: dict[str, set[str]]) -> None:
    result = deployed.devstack("down")
    assert result.returncode == 0, result.stderr
    assert "removed 2 services" in result.stdout
    assert labelled(engine, deployed.name) == {"services": [], "networks": [], "configs": [], "secrets": [],
                                               "containers": []}
    assert engine_listing(engine) == before
    again = deployed.devstack("down")
    assert again.returncode == 0 and "nothing to remove" in again.stdout


def test_ci_right_after_down_succeeds(deployed: Project) -> None:
    """`ci`, `down`, `ci` within seconds: the connections of the last run's smoke tests still wait in TIME_WAIT
    on the published ports, and hold nothing."""
    published = [deployed.port(name) for name in ("RELAY_PORT", "SINK_SMTP_PORT", "SINK_HTTP_PORT")]
    assert sum(waiting_sockets(port) for port in published) > 0
    result = deployed.devstack("ci", "--timeout", "120")
    assert result.returncode == 0, result.stdout + result.stderr
