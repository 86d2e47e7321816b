"""The long run, `make test` version, on the test cluster: the demo's Kubernetes profile under `devstack up` through
30 cycles of live updates, rebuilds (pushed to the cluster's registry, rolled out), config edits and a typo with its
fix (bench/longrun.py), the kube-apiserver restarted after cycles 10 and 20 (under the cluster's lock held
exclusively), every port forward used and the relay's logs seen in the daemon's output after each cycle. The
daemon's open fds, threads and asyncio tasks at the last cycle are no more than at cycle 5 and its RSS within
20 MB; no save is lost or run twice; every forward answers at the end."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.realkube.conftest import KubeProject

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))  # the cycles, shared with the benchmark
import longrun
import restarts
from demo import Daemon
from longrun import Target

CYCLES, EARLY = 30, 5


def test_thirty_cycles_leak_nothing(kube_demo: KubeProject) -> None:
    project = kube_demo
    relay = f"http://127.0.0.1:{project.port('RELAY_PORT')}"
    target = Target(config=project.root / "devstack.toml", relay=project.root.parent / "relay", env=project.env,
                    http={"relay": f"{relay}/healthz", "sink": f"http://127.0.0.1:{project.port('SINK_HTTP_PORT')}/stats"},
                    smtp_port=project.port("SINK_SMTP_PORT"), relay_url=f"{relay}/", restart=restarts.restart_apiserver)
    daemon = Daemon(project.root, project.env, "--web-port", "0", options=project.global_options())
    try:
        longrun.assert_flat(target, daemon, CYCLES, EARLY, "kubernetes")
    finally:
        daemon.stop()
