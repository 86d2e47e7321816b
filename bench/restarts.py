"""Restarting the engine under a running `devstack up`: dockerd, started again as `make docker` starts it, and a part
of the test cluster (tests/cluster/cluster.py stop|start NAME). For the long run (bench/longrun.py) and the tests
of faults (tests/integration/test_engine_restart.py, tests/realkube/test_control_plane_faults.py).

A part of the test cluster stopped disrupts everyone's use of it, so it is stopped only under the cluster's lock
held exclusively (DEVSTACK_CLUSTER_LOCK; whoever uses the cluster from outside a test run holds it shared), from
the stop until the cluster answers again, and no longer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "tests" / "cluster" / "cluster.py"
LOCK = Path(os.environ.get("DEVSTACK_CLUSTER_LOCK", "/run/lock/devstack-test-cluster.lock"))
DOCKER_PID = Path("/var/run/docker.pid")
BACK_S = 120  # a part that does not answer within this after its start is a broken machine, not a slow one


def engine_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode == 0


# The environment of the dockerd stop_dockerd stopped, for start_dockerd to start it again with. Not ours: the tests
# put the test cluster's programs first on PATH (its containerd, runc and shims among them), and a dockerd started
# with that PATH runs its containers with them, from a checkout that may be gone once the run ends.
_engine_env: dict[str, str] | None = None


def start_dockerd() -> None:
    # As `make docker` does: detached from us (the shell exits, dockerd outlives the run).
    subprocess.run(["sh", "-c", "setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null &"], check=True,
                   env=_engine_env)
    eventually(engine_answers, "dockerd answering; see /var/log/dockerd.log")


def engine_environment(pid: int) -> dict[str, str]:
    """What the running process `pid` was started with."""
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode("utf-8", "replace").partition("=")[::2] for entry in entries if b"=" in entry)


def stop_dockerd() -> None:
    global _engine_env
    pid = int(DOCKER_PID.read_text())
    _engine_env = engine_environment(pid)
    os.kill(pid, signal.SIGTERM)
    eventually(lambda: not Path(f"/proc/{pid}").exists(), "dockerd stopped")
    if DOCKER_PID.exists() and DOCKER_PID.read_text().strip() == str(pid):
        DOCKER_PID.unlink()  # a stale pid file of a dead dockerd would stop the next one from starting


def restartable_dockerd() -> str | None:
    """Why dockerd cannot be restarted here (None: it can)."""
    if os.geteuid() != 0 or not DOCKER_PID.is_file():
        return "restarting the engine needs root and a dockerd started with a pid file, as `make docker` starts it"
    return None


def restart_dockerd() -> None:
    stop_dockerd()
    start_dockerd()


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def stopped(name: str) -> Iterator[None]:
    """The part stopped for the block, and started again whatever happens in it: a failing assertion must not
    leave the shared cluster without it."""
    part("stop", name)
    try:
        yield
    finally:
        part("start", name)


def part(action: str, name: str) -> None:
    result = subprocess.run([sys.executable, str(CLUSTER), action, name], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def cluster_answers() -> bool:
    """Every part of the test cluster runs and its API server is ready."""
    result = subprocess.run([sys.executable, str(CLUSTER), "status"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return False
    kubeconfig = os.environ.get("DEVSTACK_TEST_KUBECONFIG") or str(REPO / ".devstack/test-cluster/kubeconfig")
    readyz = subprocess.run(["kubectl", f"--kubeconfig={kubeconfig}", "get", "--raw", "/readyz"], capture_output=True,
                            text=True, check=False, timeout=30)
    return readyz.stdout.strip() == "ok"


def wait_cluster() -> None:
    """The cluster answers again (all parts running, the API ready): only then is the exclusive hold let go."""
    eventually(cluster_answers, "the test cluster back")


def restart_apiserver(down_s: float = 5.0) -> None:
    """The kube-apiserver stopped for `down_s` and started again; returns once the cluster answers."""
    with exclusive():
        with stopped("apiserver"):
            time.sleep(down_s)
        wait_cluster()


def eventually(check: Callable[[], bool], what: str | Callable[[], str], timeout: float = BACK_S) -> None:
    """Until `check()` holds; an AssertionError saying `what` (a text, or a function that tells it then) when it
    has not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what if isinstance(what, str) else what()}"
        time.sleep(0.2)
