"""The long run, `make test` version, on swarm: the demo under `devstack up` through 30 cycles of live updates,
rebuilds, config edits and a typo with its fix (bench/longrun.py), dockerd restarted after cycles 10 and 20, every
forward used and the relay's logs seen in the daemon's output after each cycle. The daemon's open fds, threads and
asyncio tasks at the last cycle are no more than at cycle 5 and its RSS within 20 MB; no save is lost or run twice;
every forward answers at the end. bench/longrun_bench.py runs the same for longer."""

from __future__ import annotations

import sys
from pathlib import Path

import docker

from tests.integration.conftest import copy_demo, free_port, tear_down

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))  # the cycles, shared with the benchmark
import longrun
import restarts
from demo import Daemon
from longrun import Target

CYCLES, EARLY = 30, 5


def test_thirty_cycles_leak_nothing(tmp_path: Path, engine: docker.DockerClient) -> None:
    project = copy_demo(tmp_path)
    # A forward devstack serves itself (the sink's HTTP API on one more port), beside the ports the engine publishes.
    project.env["FORWARD_PORT"] = str(free_port())
    with (project.root / "devstack.toml").open("a") as config:
        config.write('\n[[forwards]]\nresource = "sink"\nlocal = "${FORWARD_PORT}"\nremote = 8025\n')
    relay = f"http://127.0.0.1:{project.port('RELAY_PORT')}"
    target = Target(config=project.root / "devstack.toml", relay=project.root / "stacks/demo/relay", env=project.env,
                    http={"relay": f"{relay}/healthz", "sink": f"http://127.0.0.1:{project.port('SINK_HTTP_PORT')}/stats",
                          "forward": f"http://127.0.0.1:{project.port('FORWARD_PORT')}/stats"},
                    smtp_port=project.port("SINK_SMTP_PORT"), relay_url=f"{relay}/", restart=restarts.restart_dockerd)
    why = restarts.restartable_dockerd()
    assert why is None, why
    daemon = Daemon(project.root, project.env, "--web-port", "0")
    try:
        longrun.assert_flat(target, daemon, CYCLES, EARLY, "swarm")
    finally:
        daemon.stop()
        if not restarts.engine_answers():  # a failure mid-restart must not leave the machine without its engine
            restarts.start_dockerd()
        tear_down(project)
