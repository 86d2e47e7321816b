"""A Docker engine of a test's own: a second dockerd on this machine, with its own data, socket and swarm.

What a test cannot do to the shared engine without pulling it from under every other project and person using it
(leave its swarm, restart it 30 times) it does to one of these. It is the same dockerd program with the same
storage driver; it differs from the shared engine in what must not clash on one machine:

- its default bridge is a Linux bridge of its own, made before it starts (`--bridge=NAME`): left to itself a
  dockerd takes docker0, the shared engine's, and `--bridge=none` is worse: dockerd then deletes docker0 at start;
- no iptables rules (`--iptables=false`): host-mode ports are served by the engine's userland proxy;
- its swarm's gateway bridge has a name and subnet of its own (Docker names it docker_gwbridge, the same Linux
  bridge as the shared engine's, unless it is created beforehand), its overlay networks a pool of their own
  (the gateway 198.18.N.0/24, the overlays 198.19.0.0/16: the benchmarking range, far from both engines' default
  pools), and its swarm listens on free ports rather than 2377 and 4789.

Root only (dockerd is). Images are copied in from the shared engine (`docker save | docker load`).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import docker

from devstack.providers.swarm import sharing

START_S = 60
STOP_S = 60
SWARM_CREATED = "dev.devstack.swarm-created"  # the node label devstack's own swarm init sets


class PrivateEngine:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dse", dir="/tmp"))  # short: unix socket paths are bounded
        tag = self.root.name[-8:].replace("_", "x")
        self.bridge = f"dsb{tag}"  # its default bridge; a Linux interface name has 15 characters at most
        self.gateway = f"dsg{tag}"  # its swarm's gateway bridge
        self.host = f"unix://{self.root}/docker.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, timeout=120)

    def docker(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(["docker", "-H", self.host, *args], capture_output=True, text=True, timeout=timeout,
                                check=False)
        assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
        return result.stdout

    def start(self) -> None:
        assert os.geteuid() == 0, "a private Docker engine needs root (dockerd)"
        if not Path(f"/sys/class/net/{self.bridge}").exists():
            _ip("link", "add", "name", self.bridge, "type", "bridge")
            _ip("addr", "add", _gateway(self._free_subnet()), "dev", self.bridge)
            _ip("link", "set", "dev", self.bridge, "up")
        log = (self.root / "dockerd.log").open("ab")
        self.process = subprocess.Popen(
            ["dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
             "--pidfile", str(self.root / "docker.pid"), "-H", self.host, f"--bridge={self.bridge}",
             "--iptables=false", "--ip-masq=false"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + START_S
        shared = _shared_bridges()
        while not self.answers():
            assert self.process.poll() is None, f"the private dockerd exited: {self.log_tail()}"
            assert time.monotonic() < deadline, f"the private dockerd did not answer in {START_S}s: {self.log_tail()}"
            time.sleep(0.3)
        assert _shared_bridges() == shared, "the private dockerd changed the shared engine's bridges"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def answers(self) -> bool:
        with contextlib.suppress(docker.errors.DockerException, OSError):
            return bool(self.client().ping())
        return False

    def load(self, *images: str) -> None:
        """Copy images from the shared engine."""
        saved = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
        loaded = subprocess.run(["docker", "-H", self.host, "load", "-q"], stdin=saved.stdout, capture_output=True,
                                timeout=300, check=False)
        assert saved.wait(timeout=60) == 0 and loaded.returncode == 0, f"loading {images}: {loaded.stderr!r}"

    def init_swarm(self, *, as_devstack: bool) -> None:
        """A single-node swarm apart from the shared engine's. `as_devstack`: marked as devstack's own init marks
        the swarm it creates, so `down --cluster` treats it as devstack's."""
        subnet = self._free_subnet()
        self.docker("network", "create", "--driver", "bridge", "--subnet", subnet,
                    "--opt", f"com.docker.network.bridge.name={self.gateway}",
                    "--opt", "com.docker.network.bridge.enable_icc=false",
                    "--opt", "com.docker.network.bridge.enable_ip_masquerade=false", "docker_gwbridge")
        self.docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{_free_tcp()}",
                    "--data-path-port", str(_free_udp()), "--default-addr-pool", "198.19.0.0/16")
        if as_devstack:
            node = self.docker("info", "--format", "{{.Swarm.NodeID}}").strip()
            self.docker("node", "update", "--label-add", f"{SWARM_CREATED}=true", node)

    def log_tail(self, lines: int = 20) -> str:
        path = self.root / "dockerd.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def close(self) -> None:
        """Stop it, and remove all it had: its mounts, its bridge, its folder, devstack's lock file of its swarm."""
        if self.answers():
            sharing.lock_file(self.client().info()).unlink(missing_ok=True)
        self.stop()
        for mount in reversed(_mounts_under(self.root)):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        for bridge in (self.bridge, self.gateway):
            subprocess.run(["ip", "link", "delete", bridge], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _free_subnet(self) -> str:
        """A /24 of 198.18.0.0/16 that no route of this machine covers."""
        routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
        for third in random.sample(range(1, 255), 254):
            if f"198.18.{third}." not in routes:
                return f"198.18.{third}.0/24"
        raise AssertionError("no free /24 in 198.18.0.0/16 for the private engine's gateway bridge")


def _shared_bridges() -> dict[str, str]:
    """The shared engine's bridges (name → interface index): a private engine must leave them as they are."""
    found = {}
    for name in ("docker0", "docker_gwbridge"):
        with contextlib.suppress(OSError):
            found[name] = Path(f"/sys/class/net/{name}/ifindex").read_text().strip()
    return found


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], capture_output=True, check=True)


def _gateway(subnet: str) -> str:
    return subnet.replace(".0/24", ".1/24")


def _mounts_under(root: Path) -> list[str]:
    return [fields[1] for line in Path("/proc/mounts").read_text().splitlines()
            if len(fields := line.split()) > 1 and fields[1].startswith(f"{root}/")]


def _free_tcp() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _free_udp() -> int:
    """A UDP port Docker accepts as a data path port (1024-49151) that nothing holds."""
    for port in random.sample(range(20000, 40000), 200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free UDP port for the private swarm's data path")
