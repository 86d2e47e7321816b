"""One part of the running test cluster stopped and started again, for the tests of control-plane faults
(tests/realkube/test_control_plane_faults.py): `cluster.py stop apiserver`, then `cluster.py start apiserver`.

A part is started again exactly as it ran: its command line, environment and working folder are read from /proc
when it is stopped and kept in STATE/stopped/NAME.json until it is started. While a record is there, `cluster.py up`
does not take the cluster for a dead one (it would tear it down): it names the part and the command that starts it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import machine

# The parts that may be stopped alone: containerd is left out (stopping it takes every pod's shim with it).
STOPPABLE = ("etcd", "apiserver", "controller-manager", "scheduler", "registry", "kubelet", "proxy", "dns")
GRACE_S = 15.0


def stop(state: Path, name: str) -> int:
    pidfile = state / "pids" / f"{name}.pid"
    if not pidfile.exists() or not machine.alive(pid := int(pidfile.read_text())):
        raise SystemExit(f"test cluster: {name} is not running")
    proc = Path(f"/proc/{pid}")
    record = {"argv": _split(proc / "cmdline"), "cwd": os.readlink(proc / "cwd"),
              "env": dict(item.split("=", 1) for item in _split(proc / "environ") if "=" in item)}
    (state / "stopped").mkdir(exist_ok=True)
    (state / "stopped" / f"{name}.json").write_text(json.dumps(record))
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while machine.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if machine.alive(pid):
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink()
    return pid


def start(state: Path, name: str) -> int:
    path = state / "stopped" / f"{name}.json"
    if not path.exists():
        raise SystemExit(f"test cluster: {name} was not stopped by `cluster.py stop {name}`")
    record = json.loads(path.read_text())
    log = open(state / "logs" / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen(record["argv"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=record["env"], cwd=record["cwd"])
    (state / "pids" / f"{name}.pid").write_text(str(proc.pid))
    path.unlink()
    return proc.pid


def stopped(state: Path) -> list[str]:
    """The parts stopped on purpose, waiting for `cluster.py start`."""
    return sorted(p.stem for p in (state / "stopped").glob("*.json")) if (state / "stopped").is_dir() else []


def _split(path: Path) -> list[str]:
    return [item.decode() for item in path.read_bytes().split(b"\0") if item]
