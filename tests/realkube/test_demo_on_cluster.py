"""The demo's Kubernetes profile (stacks/demo/k8s) on the real test cluster, as a user runs it: `devstack ci`, then
`devstack up` with every kind of edit, Ctrl-C and `down`. Images go through the local registry the cluster
announces (KEP-1755) and are pulled by the kubelet; the smoke tests reach the pods through port forwards."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable

from devstack.config import loader
from devstack.web import control
from tests.daemon import Daemon
from tests.realkube.conftest import REGISTRY, KubeProject


def eventually(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(AssertionError, OSError):
            if check():
                return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return str(response.read().decode())


class Gaps:
    """Polls a forwarded port every 0.1 s in the background; the longest time it did not answer."""

    def __init__(self, port: int) -> None:
        self.port, self.longest, self.stop = port, 0.0, threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        down_since: float | None = None
        while not self.stop.wait(0.1):
            try:
                get(self.port, "/healthz")
                if down_since is not None:
                    self.longest = max(self.longest, time.monotonic() - down_since)
                down_since = None
            except OSError:
                down_since = down_since or time.monotonic()

    def close(self) -> float:
        self.stop.set()
        self.thread.join()
        return self.longest


def images(project: KubeProject, resource: str) -> list[str]:
    return [c["image"] for p in project.pods(resource) for c in p["spec"]["containers"]]


def test_ci_pulls_from_the_local_registry_and_proves_mail_flows(kube_demo: KubeProject) -> None:
    result = kube_demo.devstack("ci", "--timeout", "400")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"smoke .*inject", output) and "sink-smtp" in output
    assert kube_demo.secret("inject-password") not in output

    # The kubelet pulled both images from the registry on 127.0.0.1:5001, where devstack pushed them.
    for resource in ("relay", "sink"):
        (image,) = images(kube_demo, resource)
        assert image.startswith(f"{REGISTRY}/{resource}:"), image
        statuses = [s for p in kube_demo.pods(resource) for s in p["status"]["containerStatuses"]]
        assert all(s["ready"] and s["imageID"].startswith(f"{REGISTRY}/{resource}@sha256:") for s in statuses)
    with urllib.request.urlopen(f"http://{REGISTRY}/v2/_catalog", timeout=5) as response:
        assert {"relay", "sink"} <= set(json.load(response)["repositories"])

    status = kube_demo.devstack("status", "--json")
    assert status.returncode == 0, status.stderr
    assert all(r["ready"] for r in json.loads(status.stdout)["resources"])

    # A second run changes nothing: no build, no apply.
    again = kube_demo.devstack("ci", "--timeout", "200")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "deployment unchanged" in again.stdout

    # `down` returns once everything is gone, pods and the namespace included: a new deploy can start at once.
    down = kube_demo.devstack("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert kube_demo.labelled() == []


def test_up_live_updates_rebuilds_survives_a_typo_and_keeps_running_after_ctrl_c(kube_demo: KubeProject) -> None:
    port = kube_demo.port("RELAY_PORT")
    daemon = Daemon(kube_demo.root, kube_demo.env, "--timeout", "400", options=kube_demo.global_options())
    try:
        daemon.wait_for("watching for changes", timeout=400)
        assert get(port, "/") == "devstack demo relay\n"
        # `smoke` from another terminal goes through the daemon's forwards (it cannot listen on their ports).
        smoke = kube_demo.devstack("smoke")
        assert smoke.returncode == 0 and "sink-smtp" in smoke.stdout and "in use" not in smoke.stdout, smoke
        (first_image,) = images(kube_demo, "relay")
        (first_pod,) = [p["metadata"]["name"] for p in kube_demo.pods("relay")]
        logs = subprocess.Popen(kube_demo.argv("logs", "-f", "relay"), cwd=kube_demo.root, env=kube_demo.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        # Live update: relay.py goes into the running container by exec + tar, the relay re-executes on SIGHUP.
        relay_py = kube_demo.root.parent / "relay" / "relay.py"
        mark = daemon.mark()
        relay_py.write_text(relay_py.read_text().replace('"devstack demo relay\\n"', '"live-updated relay\\n"'))
        daemon.wait_for(r"relay .*1 file changed → synced to 1 container\(s\)", after=mark)
        eventually(lambda: get(port, "/") == "live-updated relay\n", "the live-updated relay answering")
        assert images(kube_demo, "relay") == [first_image], "a live update must not roll out a new image"

        # Any other change in the context rebuilds, pushes and rolls out; the forward follows the new pod.
        mark, gaps = daemon.mark(), Gaps(port)
        with (kube_demo.root.parent / "relay" / "Dockerfile").open("a") as dockerfile:
            dockerfile.write(f"LABEL edited-by={kube_demo.name}\n")  # content never built before: no cache hit
        daemon.wait_for(r"relay .*1 file changed → built [\d.]+s → updated .*smoke ✓", after=mark, timeout=300)
        eventually(lambda: get(port, "/healthz") == "ok\n", "the forward reaching the new pod")
        gap = gaps.close()
        print(f"port forward: longest gap during the rollout {gap:.2f}s")
        assert gap < 30, f"the forward took {gap:.1f}s to follow the new pod"
        (second_image,) = images(kube_demo, "relay")
        assert second_image != first_image and second_image.startswith(f"{REGISTRY}/relay:")
        assert first_pod not in [p["metadata"]["name"] for p in kube_demo.pods("relay")]
        eventually(lambda: get(port, "/") == "live-updated relay\n", "the rebuilt relay through the forward")

        # A typo in devstack.toml is reported; the stack keeps running the last good config.
        config = kube_demo.root / "devstack.toml"
        good = config.read_text()
        mark = daemon.mark()
        config.write_text(good.replace("[[smoke]]", "[[smokey]]", 1))
        daemon.wait_for(r"config not reloaded: .*smokey.*the stack keeps running", after=mark)
        assert get(port, "/healthz") == "ok\n"
        config.write_text(good)
        # `logs -f` went on from the first pod (its live update included) to the one the rollout made.
        logs.terminate()
        followed = logs.communicate(timeout=20)[0]
        assert "relay reloading" in followed, followed[-2000:]
        # After the reload: the live-updated relay starting in the first pod, then the new pod's relay.
        assert followed.split("relay reloading", 1)[1].count("relay listening") >= 2, followed[-2000:]
    finally:
        stopped = daemon.stop()
    assert stopped in (0, 130), "\n".join(daemon.lines[-40:])
    # Ctrl-C stopped watching and forwarding, not the stack.
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        raise AssertionError("the port forward outlived the daemon")
    assert [p["status"]["phase"] for p in kube_demo.pods("relay")] == ["Running"]


def test_the_tunnel_to_a_rollouts_new_pod_is_open_before_a_connection_needs_it(kube_demo: KubeProject) -> None:
    """After a rebuild the forward's tunnel to the new pod is opened while the pod gets ready, so the first
    connection after the rollout does not pay for it: with no smoke test and no client after the save, the
    daemon holds a tunnel to the new pod all the same."""
    config = kube_demo.root / "devstack.toml"
    config.write_text(re.sub(r"\n\[\[smoke\]\].*?(?=\n\[(?!\[smoke)|\Z)", "", config.read_text(), flags=re.S))
    assert "[[smoke]]" not in config.read_text()
    port = kube_demo.port("RELAY_PORT")
    daemon = Daemon(kube_demo.root, kube_demo.env, "--timeout", "400", options=kube_demo.global_options())
    try:
        daemon.wait_for("watching for changes", timeout=400)
        assert get(port, "/healthz") == "ok\n"  # the forward has been used: its target is known
        (first_pod,) = [p["metadata"]["name"] for p in kube_demo.pods("relay")]
        mark = daemon.mark()
        with (kube_demo.root.parent / "relay" / "Dockerfile").open("a") as dockerfile:
            dockerfile.write(f"LABEL edited-by={kube_demo.name}-tunnel\n")
        daemon.wait_for(r"relay .*built [\d.]+s → updated", after=mark, timeout=300)
        (new_pod,) = [p["metadata"]["name"] for p in kube_demo.pods("relay")
                      if not p["metadata"].get("deletionTimestamp")]
        assert new_pod != first_pod
        endpoint = control.find(loader.load(config, environ=kube_demo.env))
        assert endpoint is not None, "no running daemon"
        tasks = control.call(endpoint, "GET", "/api/process")["task_names"]
        assert f"portforward tunnel to {new_pod}" in tasks, tasks
        assert get(port, "/healthz") == "ok\n"
    finally:
        stopped = daemon.stop()
    assert stopped in (0, 130), "\n".join(daemon.lines[-40:])
