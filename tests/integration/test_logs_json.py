"""`devstack logs` for scripts and agents, on the real engine: `--json` lines parsed back (time, resource,
container, stream, text), `--tail`, `--since` and `--timestamps`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import docker
import pytest

from tests.integration.conftest import Project, copy_demo, tear_down


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient) -> Iterator[Project]:
    project = copy_demo(tmp_path_factory.mktemp("logs"))
    result = project.devstack("ci", "--timeout", "240")
    assert result.returncode == 0, result.stdout + result.stderr
    yield project
    tear_down(project)


def _records(project: Project, *args: str) -> list[dict[str, object]]:
    result = project.devstack("logs", "--json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_json_lines_carry_time_resource_container_stream_and_text(deployed: Project,
                                                                  engine: docker.DockerClient) -> None:
    records = _records(deployed)
    assert {r["resource"] for r in records} == {"relay", "sink"}
    assert all(set(r) == {"time", "resource", "container", "stream", "text"} for r in records)
    post = [r for r in records if r["resource"] == "relay" and "POST /api/inject/v1 200" in str(r["text"])]
    assert post, records  # the smoke test's request, as the relay printed it on stdout
    (task,) = engine.services.get(f"{deployed.name}_relay").tasks(filters={"desired-state": "running"})
    assert post[0]["container"] == f"{deployed.name}_relay.{task['Slot']}.{task['ID'][:12]}"
    assert post[0]["stream"] == "stdout"
    assert not str(post[0]["text"]).startswith(("com.docker", "20"))  # no details, no time left in the text
    times = [datetime.fromisoformat(str(r["time"]).replace("Z", "+00:00")[:26] + "+00:00") for r in records]
    assert times == sorted(times)  # the resources' lines merged in time order


def test_tail_and_since(deployed: Project) -> None:
    assert sorted(r["resource"] for r in _records(deployed, "--tail", "1")) == ["relay", "sink"]
    assert len(_records(deployed, "--tail", "2", "relay")) == 2
    assert _records(deployed, "--since", "1h", "relay") == _records(deployed, "--tail", "100000", "relay")
    assert _records(deployed, "--since", "0.001s", "relay") == []  # nothing printed in the last millisecond
    wrong = deployed.devstack("logs", "--since", "5 minutes")
    assert wrong.returncode == 2 and "expected a duration such as 90, 30s, 5m or 1h30m" in wrong.stderr


def test_plain_lines_with_timestamps(deployed: Project) -> None:
    result = deployed.devstack("logs", "--timestamps", "--tail", "2", "relay")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and "POST /api/inject/v1 200" in lines[-1]
    for line in lines:
        stamp = line.split("│ ", 1)[1].split(" ", 1)[0]
        assert datetime.fromisoformat(stamp.replace("Z", "+00:00")[:26] + "+00:00").year >= 2024, line
