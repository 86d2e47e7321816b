"""[[commands]] on the real engine: `devstack run NAME` runs a command on this machine or in the resource's
container, shows its output as the resource's log, and exits 1 naming a command that failed."""

from __future__ import annotations

import re
from collections.abc import Iterator

import docker
import pytest

from tests.integration.conftest import Project, copy_demo, tear_down

COMMANDS = """
[[commands]]
name = "sink-stats"
resource = "sink"
exec = ["python3", "-c", "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8025/stats').read().decode())"]
description = "the sink's counts, from inside its container"

[[commands]]
name = "here"
resource = "relay"
run = "echo running in $$(basename $$PWD)"
workdir = "stacks"

[[commands]]
name = "broken"
resource = "relay"
exec = ["sh", "-c", "echo about to fail; exit 3"]
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient) -> Iterator[Project]:
    project = copy_demo(tmp_path_factory.mktemp("commands"))
    with (project.root / "devstack.toml").open("a") as config:
        config.write(COMMANDS)
    ci = project.devstack("ci", "--timeout", "240")
    assert ci.returncode == 0, ci.stdout + ci.stderr
    yield project
    tear_down(project)


def test_an_exec_in_the_resources_container(deployed: Project) -> None:
    result = deployed.devstack("run", "sink-stats")
    assert result.returncode == 0, result.stderr
    assert re.search(r'sink\s+│  "messages": 2,', result.stdout), result.stdout  # the smoke test's two


def test_a_command_on_this_machine(deployed: Project) -> None:
    result = deployed.devstack("run", "here")
    assert result.returncode == 0, result.stderr
    assert re.search(r"relay\s+│ running in stacks", result.stdout)


def test_a_failing_command_and_an_unknown_one(deployed: Project) -> None:
    broken = deployed.devstack("run", "broken")
    assert broken.returncode == 1
    assert "about to fail" in broken.stdout and "broken: `sh -c echo about to fail; exit 3` exited 3" in broken.stderr
    unknown = deployed.devstack("run", "nope")
    assert unknown.returncode == 2 and "no command named 'nope' (the commands: sink-stats, here, broken)" in \
        unknown.stderr
