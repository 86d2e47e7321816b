"""Two projects on the one test cluster: the demo's Kubernetes profile and the KumoMTA stack (offline variant) under
`devstack up` at once, each in its own namespace. Each one's status, logs, forwards and down touch only its own
objects; a third project wanting a local port one of them forwards is refused before anything is built, naming
that project; down of one leaves the other running and green. The swarm variant is
tests/integration/test_two_projects_swarm.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.daemon import Daemon
from tests.integration.test_two_projects_swarm import reaches_only_its_own_sink
from tests.realkube.conftest import KubeProject, TestCluster, copy_demo
from tests.realkube.test_kumomta_on_cluster import copy_kumomta

GREEN_S = 900


@dataclass
class Running:
    project: KubeProject
    daemon: Daemon


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, test_cluster: TestCluster) -> Iterator[tuple[Running, Running]]:
    demo = copy_demo(tmp_path_factory.mktemp("demo"), test_cluster)
    kumomta = copy_kumomta(tmp_path_factory.mktemp("kumomta"), test_cluster, "offline")
    started = [Running(p, Daemon(p.root, p.env, "--web-port", "0", "--timeout", "900", options=p.global_options()))
               for p in (demo, kumomta)]
    try:
        for running in started:
            wait_green(running)
        yield started[0], started[1]
    finally:
        for running in started:
            running.daemon.stop()
            running.project.devstack("down", "--volumes", timeout=300)


def status(project: KubeProject) -> dict[str, dict[str, object]]:
    result = project.devstack("status", "--json")
    assert result.returncode == 0, result.stderr
    return {r["name"]: r for r in json.loads(result.stdout)["resources"]}


def wait_green(running: Running) -> None:
    """Every resource ready and every smoke test passed, as `devstack status` tells."""
    deadline = time.monotonic() + GREEN_S
    while True:
        now = status(running.project)
        smoke = {r["smoke"] for r in now.values()}  # None: a resource no smoke test names
        if now and all(r["ready"] for r in now.values()) and "ok" in smoke and smoke <= {"ok", None}:
            return
        assert running.daemon.process.poll() is None, "\n".join(running.daemon.lines[-40:])
        assert time.monotonic() < deadline, f"{running.project.name} not green: {now}\n" + \
            "\n".join(running.daemon.lines[-40:])
        time.sleep(2)


def test_each_status_and_logs_are_its_own(both: tuple[Running, Running]) -> None:
    demo, kumomta = both
    assert set(status(demo.project)) == {"relay", "sink"}
    assert {"kumomta", "kumomta-tsa", "sink"} <= set(status(kumomta.project))
    for running in both:  # both have a `sink`: each reads its own pods' lines
        pods = {p["metadata"]["name"] for p in running.project.pods("sink")}
        result = running.project.devstack("logs", "--json", "sink")
        assert result.returncode == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert records and all(str(r["container"]).split("/")[0] in pods for r in records), (pods, records[:3])
    wrong = demo.project.devstack("logs", "kumomta")
    assert wrong.returncode == 2 and "kumomta" in wrong.stderr


def test_each_forward_reaches_its_own_sink(both: tuple[Running, Running]) -> None:
    """A message sent into the demo's sink through its forward is captured there, not at KumoMTA's sink."""
    demo, kumomta = both
    reaches_only_its_own_sink(demo.project.port("SINK_SMTP_PORT"), demo.project.port("SINK_HTTP_PORT"),
                              kumomta.project.port("KUMOMTA_SINK_HTTP_PORT"))


def test_a_port_the_other_forwards_is_refused_before_any_build(both: tuple[Running, Running], tmp_path: Path,
                                                               test_cluster: TestCluster) -> None:
    demo, kumomta = both
    third = copy_demo(tmp_path, test_cluster)
    relay = third.root.parent / "relay" / "relay.py"  # a relay of its own: not built yet, so a build would show
    relay.write_text(relay.read_text() + f"\n# {third.name}\n")
    taken = kumomta.project.port("KUMOMTA_HTTP_PORT")
    third.env["RELAY_PORT"] = str(taken)  # the local port of its relay's forward: KumoMTA's HTTP forward has it
    refused = third.devstack("ci", "--timeout", "300", timeout=400)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"port {taken} is already in use by devstack up of project '{kumomta.project.name}'" in refused.stderr
    assert "built" not in refused.stdout and "building" not in refused.stdout
    assert third.labelled() == [], "nothing of the refused project reached the cluster"
    wait_green(demo)


def test_down_of_one_leaves_the_other_running_and_green(both: tuple[Running, Running]) -> None:
    demo, kumomta = both
    before = kumomta.project.labelled()
    down = demo.project.devstack("down", timeout=300)
    assert down.returncode == 0, down.stderr
    assert demo.project.labelled() == []
    assert kumomta.project.labelled() == before
    assert kumomta.daemon.process.poll() is None
    smoke = kumomta.project.devstack("smoke", timeout=300)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    wait_green(kumomta)
