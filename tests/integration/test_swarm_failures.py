"""What a user sees when something goes wrong: the engine is unreachable, a build breaks, a service crashes,
a smoke test fails. Each is one clear message and exit code 1, never a traceback, and nothing left behind."""

from __future__ import annotations

import os
import re
import socket

import docker
import pytest

from tests.integration.conftest import Project, labelled


def test_unreachable_engine_says_where_it_looked(demo: Project) -> None:
    result = demo.devstack("ci", extra_env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 1
    assert "cannot reach the Docker engine at DOCKER_HOST=unix:///nonexistent/docker.sock" in result.stderr
    assert "start Docker" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("builder", ["buildkit", "classic"])
def test_failing_build_names_image_step_and_output(demo: Project, engine: docker.DockerClient, builder: str) -> None:
    dockerfile = demo.root / "stacks/demo/relay/Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\nRUN echo about-to-fail-7f3 && false\n")
    result = demo.devstack("ci", "--timeout", "120",
                           extra_env={"DOCKER_BUILDKIT": "1" if builder == "buildkit" else "0"})
    assert result.returncode == 1
    assert "image 'relay' failed to build at Step" in result.stderr
    assert "RUN echo about-to-fail-7f3 && false" in result.stderr
    # The output tail, as each builder prints it: BuildKit numbers its steps' lines.
    tail = r"\| #\d+ about-to-fail-7f3$" if builder == "buildkit" else r"\| about-to-fail-7f3$"
    assert re.search(tail, result.stderr, re.M), result.stderr
    assert labelled(engine, demo.name)["services"] == []  # nothing was deployed


def test_crashing_service_is_named_with_its_error_and_logs(demo: Project) -> None:
    stack = demo.root / "stacks/demo/stack.yml"
    crasher = """services:
  crasher:
    image: relay
    command: ["python3", "-c", "print('crash-marker-91b', flush=True); raise SystemExit(3)"]
    deploy:
      restart_policy:
        delay: 1s
"""
    stack.write_text(stack.read_text().replace("services:\n", crasher, 1))
    result = demo.devstack("ci", "--timeout", "120")
    assert result.returncode == 1, result.stdout
    assert f"{demo.name}_crasher: not ready" in result.stderr
    assert "non-zero exit (3)" in result.stderr
    assert "crash-marker-91b" in result.stderr


def test_sink_fault_rule_makes_ci_fail_and_report(demo: Project) -> None:
    result = demo.devstack("ci", "--timeout", "180", extra_env={"SINK_FAULTS": "example.test:550"})
    assert result.returncode == 1
    assert "inject (http-inject): FAILED" in result.stdout
    assert "expected success_count=2, fail_count=0, got success_count=0, fail_count=2" in result.stdout
    assert "550" in result.stdout  # the sink's answer, relayed back through the inject API
    assert "1 of 2 smoke tests failed: inject" in result.stderr
    assert "sink-smtp (smtp):" in result.stdout  # the other test still ran


def test_a_published_port_in_use_names_the_process_before_building(demo: Project, engine: docker.DockerClient) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", demo.port("RELAY_PORT")))
        taken.listen(1)
        result = demo.devstack("ci", "--timeout", "60")
    assert result.returncode == 1
    assert (f"stacks/demo/stack.yml: relay:8000 is published at port {demo.port('RELAY_PORT')}, which is already "
            f"in use by pid {os.getpid()} ") in result.stderr
    assert " built " not in result.stdout  # found before any build
    assert labelled(engine, demo.name)["services"] == []
