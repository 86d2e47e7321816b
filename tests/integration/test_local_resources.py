"""[[local]] resources on the real engine: under `up`, a command re-run when a file of its deps is saved (its output
as its log) and a `serve` kept running, then stopped with the daemon; a failing one fails `ci` before anything is
deployed; `ci` keeps a serve running, once its readiness check passed, for what depends on it and the smoke tests,
and ends it; a serve that never gets ready fails `ci` and is ended."""

from __future__ import annotations

import socket
import time
import uuid
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
readiness = { http = "http://127.0.0.1:{port}/a.txt" }

# A chain through files, as Tilt's users make one: gen writes what report's deps match.
[[local]]
name = "gen"
command = "ls checks > listing.out"
deps = ["checks/*.txt"]

[[local]]
name = "report"
command = "echo listing has $$(wc -l < listing.out) lines"
deps = ["listing.out"]
depends_on = ["gen"]
"""
# The serve takes a moment before it listens; `client` fails unless it runs once the readiness check passed.
SERVED = """
[[local]]
name = "mock"
serve = ["sh", "-c", "sleep 1; exec python3 -m http.server {port} --bind 127.0.0.1"]
workdir = "checks"
readiness = { http = "http://127.0.0.1:{port}/a.txt" }

[[local]]
name = "client"
depends_on = ["mock"]
command = ["python3", "-c", "import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}/a.txt').read())"]

[[smoke]]
name = "mock-up"
type = "http"
url = "http://127.0.0.1:{port}/a.txt"
body_contains = "served"
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
    daemon = Daemon(project.root, project.env, "--web-port", "0")
    try:
        daemon.wait_for(r"count\s+│ checked 1 files")
        daemon.wait_for(r"report\s+│ listing has 1 lines")
        daemon.wait_for("watching for changes")
        assert httpx.get(f"http://127.0.0.1:{port}/a.txt", timeout=5).text == "a\n"  # served from checks/
        mark = daemon.mark()
        (project.root / "checks" / "b.txt").write_text("b\n")
        daemon.wait_for(r"count\s+│ checked 2 files", after=mark)
        daemon.wait_for(r"report\s+│ listing has 2 lines", after=mark)  # re-run by the file gen wrote
        line = daemon.wait_for(r"count\s+1 file changed → ran", after=mark)
        # report's own cycle (listing.out saved by gen) ends too: nothing is half-way when up is stopped.
        daemon.wait_for(r"report\s+1 file changed → ran", after=mark)
        assert "built" not in line and "deployed" not in "\n".join(daemon.lines[mark:])
        assert project.status()["count"]["ready"]
    finally:
        stopped = daemon.stop()
        tear_down(project)
    assert stopped == 0, "\n".join(daemon.lines[-20:])  # 130: up was stopped with work half-way
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


def test_ci_keeps_a_ready_serve_running_for_its_dependents_and_the_smoke_tests(tmp_path: Path,
                                                                               engine: docker.DockerClient) -> None:
    project, port = copy_demo(tmp_path), free_port()
    (project.root / "checks").mkdir()
    (project.root / "checks" / "a.txt").write_text("served\n")
    with (project.root / "devstack.toml").open("a") as config:
        config.write(SERVED.replace("{port}", str(port)))
    try:
        ci = project.devstack("ci", "--timeout", "180")
        assert ci.returncode == 0, ci.stdout[-3000:] + ci.stderr[-2000:]
        assert "mock     ran ✓, serving `sh -c sleep 1; exec python3 -m http.server" in ci.stdout
        assert "client   │ b'served\\n'" in ci.stdout  # it reached the serve: ready before client ran
        assert "mock-up (http)" in ci.stdout and "✗" not in ci.stdout
    finally:
        tear_down(project)
    assert not _answers(port)  # ended with ci


def test_a_serve_that_never_gets_ready_fails_ci_and_is_ended(tmp_path: Path, engine: docker.DockerClient) -> None:
    project, port, marker = copy_demo(tmp_path), free_port(), uuid.uuid4().hex
    with (project.root / "devstack.toml").open("a") as config:
        config.write(f'\n[[local]]\nname = "mock"\nserve = "sleep 120; echo {marker}"\n'
                     f"readiness = {{ tcp = {port}, timeout = 1 }}\n")
    try:
        ci = project.devstack("ci", "--timeout", "120")
        assert ci.returncode == 1
        assert f"local resource mock: 127.0.0.1:{port} not ready after 1s (" in ci.stderr, ci.stderr
        assert not labelled(engine, project.name)["services"]  # it stopped ci before the deploy
    finally:
        tear_down(project)
    assert not [p for p in Path("/proc").glob("[0-9]*") if marker in _cmdline(p)]  # the serve was ended


def _cmdline(process: Path) -> str:
    try:
        return (process / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""
