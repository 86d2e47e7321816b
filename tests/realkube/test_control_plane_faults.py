"""The test cluster's own parts failing under `devstack up` of the demo's Kubernetes profile, a forward in use: the
API server stopped for 20 s, etcd restarted, the kubelet restarted, the registry restarted while a rebuild pushes
to it, a pod's container killed. For each, `devstack status` says what is wrong (the time it took is printed),
the daemon keeps running, and once the part is back devstack converges by itself,
with no edit: every resource ready, the smoke tests green, the forwards answering and the relay's log lines
followed again. The time to recover (from the part's start to all of that) is printed; docs/benchmarks.md has the
numbers.

The faults disrupt everyone's use of the shared cluster, so each holds the cluster's lock exclusively
(bench/restarts.py) from stopping the part until it answers again, and no longer. Run this module on its own, not
under a shared hold of that lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import Daemon
from tests.realkube.conftest import KubeProject, TestCluster, copy_demo

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))  # the restarts, shared with the long run
from restarts import exclusive, stopped, wait_cluster

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("DEVSTACK_CLUSTER_STATE", "/var/lib/devstack-test-cluster"))
NOTICE_S = 120  # bound on waiting for status to say what is wrong (the goal, 5 s, is measured, not asserted)
RECOVER_S = 300


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory, test_cluster: TestCluster) -> Iterator[tuple[KubeProject, Daemon]]:
    project = copy_demo(tmp_path_factory.mktemp("faults"), test_cluster)
    daemon = Daemon(project.root, project.env, "--web-port", "0", options=project.global_options())
    try:
        daemon.wait_for("watching for changes", timeout=600)
        _until(project, green, "green after the first pass")
        yield project, daemon
    finally:
        daemon.stop()
        down = project.devstack("down", "--volumes", timeout=300)
        assert down.returncode == 0, down.stdout + down.stderr


def board(project: KubeProject) -> dict[str, Any]:
    result = project.devstack("status", "--json", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def wrong(state: dict[str, Any]) -> str:
    """What `devstack status` says is wrong: the project's error, and each resource not ready, failed to build or
    deploy, or with an error of its own."""
    said = [str(state["error"])] if state.get("error") else []
    for r in state["resources"]:
        if not r["ready"] or r.get("last_error") or "error" in (r.get("build"), r.get("deploy")):
            said.append(f"{r['name']}: {'ready' if r['ready'] else 'not ready'} {r.get('last_error') or ''}".strip())
    return "; ".join(said)


def green(state: dict[str, Any]) -> bool:
    resources = state["resources"]
    return (not wrong(state) and bool(resources) and state.get("phase") == "watching"
            and all(r["smoke"] in ("ok", None) for r in resources) and any(r["smoke"] == "ok" for r in resources))


def _until(project: KubeProject, check: Callable[[dict[str, Any]], bool | str], what: str,
           timeout: float = RECOVER_S) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    while True:
        state = board(project)
        if check(state):
            return time.monotonic() - started, state
        assert time.monotonic() - started < timeout, f"not within {timeout:.0f} s: {what}; status: {state}"
        time.sleep(0.25)


def noticed(project: KubeProject, daemon: Daemon, fault: str) -> float:
    """Seconds until `devstack status` says something is wrong; the daemon runs on."""
    seconds, state = _until(project, wrong, f"status saying what is wrong after: {fault}", NOTICE_S)
    print(f"\n{fault}: status said within {seconds:.1f} s: {wrong(state)}")
    assert daemon.process.poll() is None, "\n".join(daemon.lines[-30:])
    return seconds


def recovered(project: KubeProject, daemon: Daemon, fault: str, since: float) -> float:
    """Green again with no edit: resources ready and smoke ok, the forward answers, and a request to the relay
    shows in the daemon's output (its logs are followed again)."""
    _until(project, green, f"green again after: {fault}")
    relay = project.port("RELAY_PORT")
    mark = daemon.mark()
    path = f"/after-{re.sub(r'[^a-z]+', '-', fault.lower())}"
    with contextlib.suppress(urllib.error.HTTPError):  # the relay answers 404 for this path, and logs it
        urllib.request.urlopen(f"http://127.0.0.1:{relay}{path}", timeout=30)
    daemon.wait_for(rf"relay .*{re.escape(path)}", after=mark, timeout=RECOVER_S)
    seconds = time.monotonic() - since
    print(f"{fault}: recovered {seconds:.1f} s after the part was back")
    assert daemon.process.poll() is None
    return seconds


def test_api_server_stopped_for_20_seconds(up: tuple[KubeProject, Daemon]) -> None:
    project, daemon = up
    with exclusive():
        with stopped("apiserver"):
            since = time.monotonic()
            noticed(project, daemon, "kube-apiserver stopped")
            assert "cannot reach the Kubernetes API" in wrong(board(project))
            time.sleep(max(0.0, 20 - (time.monotonic() - since)))
            assert daemon.process.poll() is None
        back = time.monotonic()
        wait_cluster()
    recovered(project, daemon, "kube-apiserver stopped", back)


def test_etcd_restarted(up: tuple[KubeProject, Daemon]) -> None:
    restart(*up, "etcd")


def test_kubelet_restarted(up: tuple[KubeProject, Daemon]) -> None:
    restart(*up, "kubelet")


def restart(project: KubeProject, daemon: Daemon, name: str, before: Callable[[], None] = lambda: None) -> None:
    """Under the exclusive hold: `before` (what leads up to the fault), the part stopped until status says what is
    wrong, started again, the cluster answering; then, with the hold let go, devstack's own recovery."""
    with exclusive():
        before()
        with stopped(name):
            noticed(project, daemon, f"{name} stopped")
        back = time.monotonic()
        wait_cluster()
    recovered(project, daemon, f"{name} restarted", back)


def test_registry_restarted_during_a_push(up: tuple[KubeProject, Daemon]) -> None:
    project, daemon = up
    dockerfile = project.root.parent / "relay" / "Dockerfile"
    log = STATE / "logs" / "registry.log"

    def push() -> None:
        seen = log.stat().st_size
        dockerfile.write_text(dockerfile.read_text() + f"# pushed while the registry restarts {time.time()}\n")
        _pushing(log, seen)

    mark = daemon.mark()
    restart(project, daemon, "registry", push)
    assert daemon.wait_for(r"relay .*changed → built.*smoke ✓", after=mark, timeout=RECOVER_S)


def _pushing(log: Path, seen: int) -> None:
    """Until the engine's push of the relay reaches the registry (its access log shows the upload)."""
    deadline = time.monotonic() + RECOVER_S
    upload = re.compile(r'"(POST|HEAD|PUT|PATCH) /v2/relay/blobs/.*"docker/')  # the engine's, not a node's pull
    while not upload.search(log.read_bytes()[seen:].decode(errors="replace")):
        assert time.monotonic() < deadline, "no push of the relay reached the registry"
        time.sleep(0.05)


def test_a_pod_container_killed(up: tuple[KubeProject, Daemon]) -> None:
    project, daemon = up
    with exclusive():  # short: only this project's pod is touched, but the kill must not race another fault
        pid = _relay_process(project)
        os.kill(pid, 9)
    killed = time.monotonic()
    noticed(project, daemon, "relay container killed")
    recovered(project, daemon, "relay container killed", killed)


def _relay_process(project: KubeProject) -> int:
    """The host pid of the relay's process, found by its pod's uid in its cgroup."""
    uid = project.pods("relay")[0]["metadata"]["uid"]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cgroup = (proc / "cgroup").read_text()
            if (uid in cgroup or uid.replace("-", "_") in cgroup) and b"relay.py" in (proc / "cmdline").read_bytes():
                return int(proc.name)
    raise AssertionError(f"no process of the relay's pod {uid}")
