"""[[local]] resources on the real engine: under `up`, a command re-run when a file of its deps is saved (its output
as its log) and a `serve` kept running, then stopped with the daemon; a failing one fails `ci` before anything is
deployed."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import docker
import httpx

from tests.daemon import Daemon
from tests.integration.conftest import copy_demo, free_port, labelled, tear_down

LOCAL = """
[[local]]
name = "count"
command = "n=$$(ls checks | wc -l); echo checked $$n files"
deps = ["checks/*.txt"]

[[local]]
name = "docs"
serve = ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
workdir = "checks"
"""


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_under_up_a_saved_dependency_reruns_it_and_serve_runs_until_up_stops(tmp_path: Path,
                                                                            engine: docker.DockerClient) -> None:
    project, port = copy_demo(tmp_path), free_port()
    (project.root / "checks").mkdir()
    (project.root / "checks" / "a.txt").write_text("a\n")
    with (project.root / "devstack.toml").open("a") as config:
        config.write(LOCAL.replace("{port}", str(port)))
    daemon = Daemon(project.root, project.env)
    try:
        daemon.wait_for(r"count\s+│ checked 1 files")
        daemon.wait_for("watching for changes")
        assert httpx.get(f"http://127.0.0.1:{port}/a.txt", timeout=5).text == "a\n"  # served from checks/
        mark = daemon.mark()
        (project.root / "checks" / "b.txt").write_text("b\n")
        daemon.wait_for(r"count\s+│ checked 2 files", after=mark)
        line = daemon.wait_for(r"count\s+1 file changed → ran", after=mark)
        assert "built" not in line and "deployed" not in "\n".join(daemon.lines[mark:])
        assert project.status()["count"]["ready"]
    finally:
        assert daemon.stop() == 0
        tear_down(project)
    deadline = time.monotonic() + 5
    while _answers(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _answers(port)  # the serve stopped with the daemon: nothing left running


def test_a_failing_local_resource_fails_ci_before_the_deploy(tmp_path: Path, engine: docker.DockerClient) -> None:
    project = copy_demo(tmp_path)
    with (project.root / "devstack.toml").open("a") as config:
        config.write('\n[[local]]\nname = "lint"\ncommand = "echo 2 problems found; exit 1"\n')
    try:
        ci = project.devstack("ci", "--timeout", "120")
        assert ci.returncode == 1
        assert "lint     │ 2 problems found" in ci.stdout
        assert "local resource lint: `echo 2 problems found; exit 1` exited 1" in ci.stderr
        assert not labelled(engine, project.name)["services"]  # nothing deployed
    finally:
        tear_down(project)
