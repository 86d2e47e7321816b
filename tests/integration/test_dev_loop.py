"""The dev loop end to end: a real `devstack up` on a copy of the demo, driven by editing files as a user would.
No command is typed between the edit and the assertion."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from tests.daemon import WAIT_S, Daemon
from tests.integration.conftest import Project, copy_demo, free_port, tear_down


def greeting(project: Project) -> str:
    return httpx.get(f"http://127.0.0.1:{project.port('RELAY_PORT')}/", timeout=5).text


def edit_greeting(project: Project, text: str) -> None:
    relay = project.root / "stacks/demo/relay/relay.py"
    source = relay.read_text()
    new = re.sub(r'GREETING = "[^"]*"', f'GREETING = "{text}\\\\n"', source, count=1)
    assert new != source, "the demo relay no longer has a GREETING line"
    relay.write_text(new)


def built_images(engine: docker.DockerClient, project: str) -> set[str]:
    return {i.id for i in engine.images.list(filters={"label": f"dev.devstack.project={project}"})}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient) -> Iterator[tuple[Project, Daemon]]:
    project = copy_demo(tmp_path_factory.mktemp("loop"))
    # A forward declared in devstack.toml (the sink's HTTP API on one more port), to prove it survives redeploys.
    project.env["FORWARD_PORT"] = str(free_port())
    with (project.root / "devstack.toml").open("a") as config:
        config.write('\n[[forwards]]\nresource = "sink"\nlocal = "${FORWARD_PORT}"\nremote = 8025\n')
    daemon = Daemon(project.root, project.env, "--record", "session.cast")
    daemon.wait_for("watching for changes")
    yield project, daemon
    daemon.stop()
    tear_down(project)


def test_first_pass_deploys_and_smoke_tests(running: tuple[Project, Daemon]) -> None:
    project, daemon = running
    assert daemon.wait_for(r"smoke .*inject \(http-inject\): 2 accepted, 2 delivered")
    status = project.status()
    assert status["relay"]["ready"] and status["sink"]["ready"]
    assert status["relay"]["smoke"] == "ok"
    assert {"name", "ready", "image", "smoke", "updated_at"} <= status["relay"].keys()


def test_second_up_is_refused_while_one_runs(running: tuple[Project, Daemon]) -> None:
    project, _ = running
    result = project.devstack("up", timeout=30)
    assert result.returncode == 1
    assert f"devstack up is already running for project '{project.name}'" in result.stderr


def test_live_update_syncs_without_building(running: tuple[Project, Daemon], engine: docker.DockerClient) -> None:
    project, daemon = running
    images = built_images(engine, project.name)
    mark = daemon.mark()
    edit_greeting(project, "hello from a live update")
    line = daemon.wait_for(r"relay .*1 file changed → synced to 1 container\(s\)", after=mark)
    assert "smoke ✓" in line and "built" not in line
    assert greeting(project) == "hello from a live update\n"
    assert built_images(engine, project.name) == images


def test_config_typo_keeps_the_stack_and_recovers(running: tuple[Project, Daemon]) -> None:
    project, daemon = running
    config = project.root / "devstack.toml"
    good = config.read_text()
    mark = daemon.mark()
    config.write_text(good.replace("[images.relay]", "[images.relay]\ncontxt = 1", 1))
    assert "images.relay.contxt: unknown key (did you mean 'context'?)" in daemon.wait_for("config not reloaded",
                                                                                        after=mark)
    assert greeting(project)  # the stack keeps running
    mark = daemon.mark()
    config.write_text(good)
    assert daemon.wait_for("config reloaded", after=mark)
    assert project.status()["relay"]["ready"]


def test_trigger_restarts_and_the_forward_keeps_answering(running: tuple[Project, Daemon]) -> None:
    project, daemon = running
    forward = f"http://127.0.0.1:{project.env['FORWARD_PORT']}/stats"
    assert httpx.get(forward, timeout=5).status_code == 200
    mark = daemon.mark()
    result = project.devstack("trigger", "sink")
    assert result.returncode == 0, result.stderr
    assert "smoke ✓" in daemon.wait_for(r"sink .*restarted", after=mark)
    assert httpx.get(forward, timeout=5).json()["connections"] >= 0  # a new sink task answers on the same port


def test_logs_from_another_terminal(running: tuple[Project, Daemon]) -> None:
    project, _ = running
    result = project.devstack("logs", "relay", "--tail", "50")
    assert result.returncode == 0, result.stderr
    assert re.search(r"relay\s+│ POST /api/inject/v1 200 ok=2 failed=0", result.stdout)  # the smoke test's request
    unknown = project.devstack("logs", "nope")
    assert unknown.returncode == 2 and "no deployed resource named 'nope'" in unknown.stderr


def test_logs_follow_until_ctrl_c(running: tuple[Project, Daemon]) -> None:
    project, _ = running
    follow = subprocess.Popen([sys.executable, "-m", "devstack", "logs", "-f", "relay", "--since", "3600"],
                              cwd=project.root, env=project.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        assert follow.stdout is not None
        first = follow.stdout.readline()  # the relay's earlier lines, as they stream
        assert re.match(r".*relay\s+│ ", first), first
        # Keep reading, as a terminal does: an hour of lines can fill the pipe, and a writer blocked on a full pipe
        # cannot exit whatever the signal.
        threading.Thread(target=follow.stdout.read, daemon=True).start()
        follow.send_signal(signal.SIGINT)
        started = time.monotonic()
        assert follow.wait(timeout=10) == 130
        assert time.monotonic() - started < 2.0
    finally:
        follow.kill()
        follow.wait()


def test_ctrl_c_stops_watching_and_leaves_the_stack_running(running: tuple[Project, Daemon]) -> None:
    project, daemon = running
    pid = daemon.process.pid
    assert daemon.stop() == 0
    assert "stopped watching; the stack keeps running" in "\n".join(daemon.lines[-5:])
    assert not (project.root / ".devstack" / "daemon.json").exists()
    assert not _children_of(pid)
    assert project.status()["relay"]["ready"]  # answered by the engine: no daemon is left to ask
    # --record: an asciicast v2 file of the whole session, playable with `asciinema play`
    header, *events = (project.root / "session.cast").read_text().splitlines()
    assert json.loads(header)["version"] == 2
    output = "".join(json.loads(event)[2] for event in events)
    assert "watching for changes" in output and "\r\n" in output


def test_detach_runs_in_the_background_until_down(tmp_path: Path, engine: docker.DockerClient) -> None:
    project = copy_demo(tmp_path)
    result = project.devstack("up", "--detach", timeout=60)
    try:
        assert result.returncode == 0, result.stderr
        assert "devstack is running in the background" in result.stdout
        deadline = time.monotonic() + WAIT_S
        while project.status().get("relay", {}).get("smoke") != "ok" and time.monotonic() < deadline:
            time.sleep(1)
        assert project.status()["relay"]["smoke"] == "ok"
        assert "watching for changes" in (project.root / ".devstack" / "daemon.log").read_text()
    finally:
        down = project.devstack("down", "--images")
    assert down.returncode == 0 and "stopped devstack up" in down.stdout
    assert not (project.root / ".devstack" / "daemon.json").exists()


def test_an_edit_is_rebuilt_redeployed_and_smoke_tested(tmp_path: Path, engine: docker.DockerClient) -> None:
    project = copy_demo(tmp_path)
    config = project.root / "devstack.toml"
    # Without live update, an edit of relay.py takes the rebuild path.
    config.write_text(re.sub(r"\[images\.relay\.live_update\].*?(?=\n\[)", "", config.read_text(), flags=re.S))
    daemon = Daemon(project.root, project.env)
    try:
        daemon.wait_for("watching for changes")
        before = project.status()["relay"]["image"]
        mark = daemon.mark()
        edit_greeting(project, "hello from a rebuild")
        line = daemon.wait_for(r"relay .*1 file changed → built [\d.]+s → updated [\d.]+s → smoke ✓", after=mark)
        assert line
        assert greeting(project) == "hello from a rebuild\n"
        assert project.status()["relay"]["image"] != before
    finally:
        daemon.stop()
        tear_down(project)


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return children

