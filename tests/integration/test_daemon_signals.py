"""A daemon's death at any moment, on the real engine.

Closing the terminal that runs `devstack up` sends it SIGHUP: that stops the daemon as SIGTERM does (its stop
line, the stack left running, daemon.json and the socket removed), and a terminal that is already gone when the
daemon prints its last lines is no crash. `devstack down` works whatever moment of a daemon's death it meets: a
pid that is dead but not yet reaped, a daemon that has closed its socket and is still finishing, one that never
finishes (down then leaves the stack alone and says why).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.daemon import WAIT_S, Daemon
from tests.integration.conftest import Project, copy_demo, labelled, tear_down


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient) -> Iterator[Project]:
    project = copy_demo(tmp_path_factory.mktemp("signals"))
    yield project
    tear_down(project)


def _watching(project: Project) -> tuple[Daemon, Path]:
    """A daemon past its first pass, and its control socket."""
    daemon = Daemon(project.root, project.env)
    try:
        daemon.wait_for("watching for changes")
    except BaseException:
        daemon.stop()
        raise
    return daemon, Path(json.loads(_info(project).read_text())["socket"])


def _info(project: Project) -> Path:
    return project.root / ".devstack" / "daemon.json"


def _stack_ready(project: Project) -> bool:
    status = project.status()
    return bool(status["relay"]["ready"] and status["sink"]["ready"])


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_hang_up_stops_the_daemon_as_sigterm_does(project: Project, sig: signal.Signals) -> None:
    daemon, socket = _watching(project)
    try:
        assert socket.exists() and _info(project).exists()
        daemon.process.send_signal(sig)
        code = daemon.process.wait(timeout=20)
    finally:
        daemon.stop()
    output = "\n".join(daemon.lines)
    assert code == 0, output
    assert "stopped watching; the stack keeps running" in daemon.lines[-1], output
    assert "Traceback" not in output
    assert not _info(project).exists() and not socket.exists()
    assert _stack_ready(project)  # the engine's own view: the stack runs on without its daemon


def test_closing_the_terminal_stops_the_daemon_cleanly(project: Project) -> None:
    """The real hang-up: `devstack up` on a terminal of its own (a pty it controls), and the terminal closed.
    Its last lines then have nowhere to go, which must not crash it."""
    crashes = set(Path(tempfile.gettempdir()).glob("devstack-crash-*"))
    master, slave = pty.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = {key: value for key, value in project.env.items() if key != "NO_COLOR"} | {"TERM": "xterm"}
    process = subprocess.Popen([sys.executable, "-m", "devstack", "up"], cwd=project.root, env=env, stdin=slave,
                               stdout=slave, stderr=slave, preexec_fn=controlling_terminal)
    os.close(slave)
    try:
        screen = _read_until(master, b"watching for changes")
        socket = Path(json.loads(_info(project).read_text())["socket"])
        os.close(master)  # the terminal window closes: the kernel hangs up the session
        master = -1
        code = process.wait(timeout=20)
    finally:
        if master >= 0:
            os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0, screen.decode(errors="replace")[-2000:]
    assert set(Path(tempfile.gettempdir()).glob("devstack-crash-*")) == crashes
    assert not _info(project).exists() and not socket.exists()
    assert _stack_ready(project)


def _read_until(master: int, marker: bytes) -> bytes:
    screen = b""
    deadline = time.monotonic() + WAIT_S
    while marker not in screen:
        assert time.monotonic() < deadline, f"no {marker!r} on the terminal:\n{screen.decode(errors='replace')}"
        screen += os.read(master, 65536)
    return screen


def test_down_right_after_a_kill_with_the_pid_not_yet_reaped(project: Project, engine: docker.DockerClient,
                                                              ) -> None:
    """The issue's failure: a dead daemon's pid still exists (a zombie, until its parent waits for it) and its
    daemon.json and socket are left behind; down used to fail with `Connection refused`."""
    daemon, socket = _watching(project)
    try:
        os.kill(daemon.process.pid, signal.SIGKILL)
        _wait_until_zombie(daemon.process.pid)
        assert _info(project).exists() and socket.exists()  # all the dead daemon left behind
        down = project.devstack("down")
    finally:
        daemon.stop()
    assert down.returncode == 0, down.stderr
    assert "did not answer" not in down.stderr + down.stdout
    assert not any(labelled(engine, project.name).values())


def _wait_until_zombie(pid: int) -> None:
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, f"pid {pid} did not die"
        time.sleep(0.01)


def test_down_while_the_daemon_is_on_its_way_out(project: Project, engine: docker.DockerClient) -> None:
    """A daemon that has closed its socket but not yet exited, frozen there (SIGSTOP) so the moment lasts: down
    neither fails on the refused connection nor tears the stack down under it. It waits; when the daemon never
    finishes, down leaves the stack alone and says so (exit 1); once the daemon has finished, down works."""
    daemon, socket = _watching(project)
    try:
        daemon.process.send_signal(signal.SIGTERM)
        while socket.exists():  # the socket goes first; the process takes a second or more to finish after it
            assert daemon.process.poll() is None, "the daemon exited before it could be caught on its way out"
        os.kill(daemon.process.pid, signal.SIGSTOP)
        assert daemon.process.poll() is None, "the daemon exited before it could be caught on its way out"
        stuck = project.devstack("down")
        assert _stack_ready(project)  # untouched
        waiting = subprocess.Popen([sys.executable, "-m", "devstack", "down"], cwd=project.root, env=project.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)  # down meets the frozen daemon and waits for it
        os.kill(daemon.process.pid, signal.SIGCONT)
        code = daemon.process.wait(timeout=20)
        out, err = waiting.communicate(timeout=120)
    finally:
        if daemon.process.poll() is None:
            os.kill(daemon.process.pid, signal.SIGCONT)
        daemon.stop()
    assert stuck.returncode == 1, stuck.stdout + stuck.stderr
    assert f"for project '{project.name}' did not stop within 10s; down left the stack as it is" in stuck.stderr
    assert code == 0 and "stopped watching" in daemon.lines[-1], "\n".join(daemon.lines[-10:])
    assert waiting.returncode == 0, out + err
    assert not any(labelled(engine, project.name).values())
