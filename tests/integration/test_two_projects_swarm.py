"""Two projects on one machine, on the one swarm: the demo and the Mailu stack (offline variant) under `devstack up`
at once. Each one's status, logs, forwards and down touch only its own objects; a third project wanting a port
one of them publishes is refused before anything is built, naming that project, even while no task of the
publishing service runs (no bind test sees such a port); down of one leaves the other running and green."""

from __future__ import annotations

import json
import smtplib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import docker
import httpx
import pytest

from devstack.networking import ports
from tests.daemon import Daemon
from tests.integration.conftest import Project, copy_demo, labelled, tear_down
from tests.integration.test_mailu import copy_mailu

GREEN_S = 900


@dataclass
class Running:
    project: Project
    daemon: Daemon


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient) -> Iterator[tuple[Running, Running]]:
    demo = copy_demo(tmp_path_factory.mktemp("demo"))
    mailu = copy_mailu(tmp_path_factory.mktemp("mailu"), engine)
    started = [Running(p, Daemon(p.root, p.env, "--web-port", "0", "--timeout", "900")) for p in (demo, mailu)]
    try:
        for running in started:
            wait_green(running)
        yield started[0], started[1]
    finally:
        for running in started:
            running.daemon.stop()
            running.project.devstack("down", "--volumes")
            tear_down(running.project)


def wait_green(running: Running) -> None:
    """Every resource ready and every smoke test passed, as `devstack status` tells."""
    deadline = time.monotonic() + GREEN_S
    while True:
        status = running.project.status()
        if green(status):
            return
        assert running.daemon.process.poll() is None, "\n".join(running.daemon.lines[-40:])
        assert time.monotonic() < deadline, f"{running.project.name} not green: {status}\n" + \
            "\n".join(running.daemon.lines[-40:])
        time.sleep(2)


def green(status: dict[str, dict[str, object]]) -> bool:
    smoke = {r["smoke"] for r in status.values()}  # None: a resource no smoke test names
    return bool(status) and all(r["ready"] for r in status.values()) and "ok" in smoke and smoke <= {"ok", None}


def log_records(project: Project, *args: str) -> list[dict[str, str]]:
    result = project.devstack("logs", "--json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_each_status_and_logs_are_its_own(both: tuple[Running, Running], engine: docker.DockerClient) -> None:
    demo, mailu = both
    assert set(demo.project.status()) == {"relay", "sink"}
    assert set(mailu.project.status()) == {s.name.removeprefix(f"{mailu.project.name}_") for s in
                                           engine.services.list(filters={"label": f"dev.devstack.project="
                                                                                   f"{mailu.project.name}"})}
    for running in both:  # both have a `sink`: each reads its own tasks' lines
        records = log_records(running.project, "sink")
        assert records and all(r["container"].startswith(f"{running.project.name}_sink.") for r in records), records
    wrong = mailu.project.devstack("logs", "relay")
    assert wrong.returncode == 2 and "relay" in wrong.stderr


def test_each_forward_reaches_its_own_sink(both: tuple[Running, Running]) -> None:
    """A message sent into the demo's sink is captured there, and not at Mailu's sink, whose forward is Mailu's."""
    demo, mailu = both
    reaches_only_its_own_sink(demo.project.port("SINK_SMTP_PORT"), demo.project.port("SINK_HTTP_PORT"),
                              mailu.project.port("SINK_HTTP_PORT"))


def reaches_only_its_own_sink(smtp_port: int, own_http: int, other_http: int) -> None:
    """A message sent to the sink at `smtp_port` is captured by the sink at `own_http`, not by the other one."""
    message_id = f"<two-{uuid.uuid4().hex}@devstack.test>"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@devstack.test", "b@example.com", "which sink"
    message["Message-ID"] = message_id
    message.set_content("to one project's sink")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
        smtp.send_message(message)
    assert message_id in _captured(own_http)
    assert message_id not in _captured(other_http)


def _captured(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/captured", timeout=30).text


def test_a_port_the_other_publishes_is_refused_before_any_build(both: tuple[Running, Running], tmp_path: Path,
                                                               engine: docker.DockerClient) -> None:
    demo, mailu = both
    third = copy_demo(tmp_path)
    # A relay of its own: its image is not built yet, so a build would show.
    relay = third.root / "stacks" / "demo" / "relay" / "relay.py"
    relay.write_text(relay.read_text() + f"\n# {third.name}\n")
    front = f"{mailu.project.name}_front"
    smtp_port = mailu.project.port("SMTP_PORT")
    # No task of front runs (as while its deploy holds it back, or it restarts): nothing listens on its ports.
    engine.services.get(front).scale(0)
    try:
        _wait_unbound(smtp_port)
        refused = third.devstack("ci", extra_env={"RELAY_PORT": str(smtp_port)})
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert (f"relay:8000 is published at port {smtp_port}, which service {front} of project "
                f"'{mailu.project.name}' publishes already") in refused.stderr
    finally:
        engine.services.get(front).scale(1)
    # A port a running service holds: the bind test sees it too; the swarm's own record names the project.
    refused = third.devstack("ci", extra_env={"SINK_HTTP_PORT": str(demo.project.port("SINK_HTTP_PORT"))})
    assert refused.returncode == 1
    assert f"which service {demo.project.name}_sink of project '{demo.project.name}' publishes already" in \
        refused.stderr
    assert "built" not in refused.stdout and "building" not in refused.stdout
    assert not any(labelled(engine, third.name).values())
    assert not engine.images.list(name="relay", filters={"label": f"dev.devstack.project={third.name}"})
    wait_green(mailu)


def _wait_unbound(port: int) -> None:
    deadline = time.monotonic() + 60
    while ports.in_use(port):
        assert time.monotonic() < deadline, f"port {port} still listened on"
        time.sleep(0.5)


def test_down_of_one_leaves_the_other_running_and_green(both: tuple[Running, Running],
                                                        engine: docker.DockerClient) -> None:
    demo, mailu = both
    kinds = ("services", "networks", "configs", "secrets")
    before = {kind: labelled(engine, mailu.project.name)[kind] for kind in kinds}
    down = demo.project.devstack("down")
    assert down.returncode == 0, down.stderr
    assert not any(labelled(engine, demo.project.name)[kind] for kind in kinds)
    assert {kind: labelled(engine, mailu.project.name)[kind] for kind in kinds} == before
    assert mailu.daemon.process.poll() is None
    smoke = mailu.project.devstack("smoke")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    wait_green(mailu)
