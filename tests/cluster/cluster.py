#!/usr/bin/env python3
"""devstack's test cluster: a real single-node Kubernetes v1.37.2 on 127.0.0.1, for `make test`.

    cluster.py up [--kubeconfig PATH]   start it (or report the running one) and write a kubeconfig whose
                                        context is `devstack-test` (and a `bin` link beside it: kubectl, helm);
                                        returns when the node is Ready and the cluster DNS answers
    cluster.py down                     stop it and undo everything it did to the machine; exit 1 naming
                                        anything that stayed behind
    cluster.py status                   say whether it runs (exit 0) or not (exit 1)
    cluster.py stop|start PART          stop one part (etcd, apiserver, kubelet, registry, ...) and start it again
                                        as it ran (parts.py): for the tests of control-plane faults
    cluster.py bin                      print the folder of the cluster's programs (kubectl, helm, ...)

What runs (programs from tests/cluster/build.sh's cache): etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, a private containerd 2 (own root, state and socket, never dockerd's) with runc, kubelet,
kube-proxy, the CNI bridge, Debian's docker-registry on 127.0.0.1:5001 (announced by the KEP-1755 ConfigMap),
CoreDNS for *.svc.cluster.local (a host process on the pod bridge's gateway, where pods reach it) and a hostPath
volume provisioner behind the default StorageClass `standard` (provisioner.py), as kind has. Each component
has its own identity and the RBAC Kubernetes gives it by default, as kubeadm sets a cluster up (the kubelet as
its node, under the Node authorizer and NodeRestriction); PodSecurity admission runs with its defaults
(privileged), as in a kind cluster. Every listener is on 127.0.0.1, except DNS on the pod bridge's gateway.

All state lives under one directory (DEVSTACK_CLUSTER_STATE, default /var/lib/devstack-test-cluster), and what
the machine looked like before (sysctls, iptables chains, interfaces, mounts) is recorded there at `up` so that
`down` can restore it and check. A cluster left by a killed session is cleaned up by the next `up`.

Standard library only: it runs before devstack's virtualenv exists.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import configs
import machine
import parts
import pki

VERSION = "v1.37.2"
CACHE = Path(os.environ.get("DEVSTACK_CLUSTER_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "devstack/test-cluster" / VERSION)
STATE = Path(os.environ.get("DEVSTACK_CLUSTER_STATE", "/var/lib/devstack-test-cluster"))
CONTEXT = "devstack-test"
# The node's name is its address: the kubelet refuses a loopback --node-ip, but takes an address given as the
# host name, and the API server reaches the kubelet (logs, exec, port-forward) at the node's address.
NODE = "127.0.0.1"
API_PORT = 6443
ETCD_PORT, ETCD_PEER_PORT = 23790, 23800
REGISTRY = "127.0.0.1:5001"
POD_CIDR, GATEWAY, BRIDGE = "10.244.0.0/24", "10.244.0.1", "dstest0"
SERVICE_CIDR = "10.96.0.0/16"
FORWARD_CHAIN = "DEVSTACK-TEST-FORWARD"
PAUSE_IMAGE = "devstack.test/pause:1"
HERE = Path(__file__).resolve().parent
LAYOUT = configs.Layout(state=STATE, cache=CACHE, node=NODE, api_port=API_PORT, registry=REGISTRY, pod_cidr=POD_CIDR,
                        gateway=GATEWAY, bridge=BRIDGE, pause_image=PAUSE_IMAGE, context=CONTEXT)

# The identities of the components (client certificate file → subject), as Kubernetes' default RBAC names them.
IDENTITIES = {"admin": "/O=system:masters/CN=devstack-test-admin",
              "kubelet": f"/O=system:nodes/CN=system:node:{NODE}",
              "proxy": "/CN=system:kube-proxy",
              "controller-manager": "/CN=system:kube-controller-manager",
              "scheduler": "/CN=system:kube-scheduler"}

# Start order; `down` stops them in reverse.
COMPONENTS = ("etcd", "apiserver", "controller-manager", "scheduler", "registry", "containerd", "kubelet",
              "proxy", "dns", "provisioner")


def say(message: str) -> None:
    print(f"[test-cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


def bin_path(name: str) -> str:
    for folder in (CACHE / "bin", CACHE / "root/usr/bin"):
        if (folder / name).exists():
            return str(folder / name)
    raise SystemExit(f"test cluster: {name} is not in {CACHE}: run tests/cluster/build.sh (make test-cluster does)")


# --- up -------------------------------------------------------------------------------------------------------

def up(kubeconfig: Path | None) -> int:
    if parts.stopped(STATE):  # stopped on purpose by a fault test, not dead: never tear the cluster down for it
        names = parts.stopped(STATE)
        print(f"test cluster: {', '.join(names)} stopped on purpose; start with `cluster.py start {names[0]}`",
              file=sys.stderr)
        return 1
    if running():
        say(f"already running (state in {STATE})")
        if kubeconfig:
            publish(kubeconfig)
        return 0
    if STATE.exists():
        say(f"cleaning up a cluster that is no longer running ({STATE})")
        teardown(quiet=True)
    started = time.monotonic()
    for sub in ("pki", "logs", "pids", "etcd", "registry", "containerd", "kubelet", "cni/net.d", "cni/ipam",
                "volumes", "kubeconfigs"):
        (STATE / sub).mkdir(parents=True, exist_ok=True)
    machine.record_baseline(STATE / "baseline.json")
    say("certificates")
    pki.make(STATE / "pki", names=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                   "kubernetes.default.svc.cluster.local"],
             ips=["127.0.0.1", "10.96.0.1"], clients=IDENTITIES)
    for identity in IDENTITIES:
        configs.kubeconfig(LAYOUT, kubeconfig_of(identity), identity)
    try:
        start_control_plane()
        start_node()
        announce_registry()
    except BaseException:
        say(f"start failed: logs in {STATE / 'logs'}; stopping what started")
        teardown(quiet=True)
        raise
    if kubeconfig:
        publish(kubeconfig)
    say(f"ready in {time.monotonic() - started:.0f}s: Kubernetes {VERSION}, context {CONTEXT!r}, "
        f"registry {REGISTRY}")
    return 0


def kubeconfig_of(identity: str) -> Path:
    return STATE / "kubeconfigs" / f"{identity}.kubeconfig"


def publish(kubeconfig: Path) -> None:
    """The admin kubeconfig at the path asked for, and beside it `bin`: a link to the cluster's programs, so that
    tests and people use the kubectl and helm of the cluster's release (tests/realkube/conftest.py)."""
    configs.kubeconfig(LAYOUT, kubeconfig, "admin")
    link = kubeconfig.parent / "bin"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(CACHE / "bin")


def start_control_plane() -> None:
    pk = STATE / "pki"
    spawn("etcd", [bin_path("etcd"), "--name", "devstack-test", "--data-dir", str(STATE / "etcd"),
                   "--listen-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
                   "--advertise-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
                   "--listen-peer-urls", f"http://127.0.0.1:{ETCD_PEER_PORT}",
                   "--initial-advertise-peer-urls", f"http://127.0.0.1:{ETCD_PEER_PORT}",
                   "--initial-cluster", f"devstack-test=http://127.0.0.1:{ETCD_PEER_PORT}",
                   "--listen-metrics-urls", "http://127.0.0.1:23810"])
    wait_for("etcd", lambda: machine.http_ok(f"http://127.0.0.1:{ETCD_PORT}/health"), 30)
    spawn("apiserver", [bin_path("kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
                        "--bind-address=127.0.0.1", f"--secure-port={API_PORT}", "--advertise-address=127.0.0.1",
                        f"--client-ca-file={pk}/ca.crt",
                        f"--tls-cert-file={pk}/apiserver.crt", f"--tls-private-key-file={pk}/apiserver.key",
                        f"--service-cluster-ip-range={SERVICE_CIDR}",
                        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                        f"--service-account-key-file={pk}/sa.pub",
                        f"--service-account-signing-key-file={pk}/sa.key",
                        # As kubeadm (and so kind) sets it: the kubelet may touch only its own node and its pods.
                        "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
                        "--allow-privileged=true",
                        f"--kubelet-client-certificate={pk}/admin.crt", f"--kubelet-client-key={pk}/admin.key",
                        "--kubelet-preferred-address-types=InternalIP,Hostname", "--profiling=false",
                        # The node (and so the API server) is on loopback, which an Endpoints address may not be.
                        "--endpoint-reconciler-type=none"])
    admin = kubeconfig_of("admin")
    wait_for("kube-apiserver", lambda: kubectl(admin, "get", "--raw", "/readyz", check=False) == "ok", 90)
    spawn("controller-manager", [bin_path("kube-controller-manager"),
                                 f"--kubeconfig={kubeconfig_of('controller-manager')}",
                                 "--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
                                 f"--service-account-private-key-file={pk}/sa.key", f"--root-ca-file={pk}/ca.crt",
                                 f"--cluster-signing-cert-file={pk}/ca.crt",
                                 f"--cluster-signing-key-file={pk}/ca.key",
                                 # Each controller acts as its own service account, as with kubeadm.
                                 "--use-service-account-credentials=true", "--profiling=false"])
    spawn("scheduler", [bin_path("kube-scheduler"), f"--kubeconfig={kubeconfig_of('scheduler')}",
                        "--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false", "--profiling=false"])
    spawn("registry", [bin_path("docker-registry"), "serve", str(configs.registry(LAYOUT))])
    wait_for("registry", lambda: machine.http_ok(f"http://{REGISTRY}/v2/"), 30)


def start_node() -> None:
    machine.make_bridge(BRIDGE, f"{GATEWAY}/24")
    machine.accept_forwarding(BRIDGE, FORWARD_CHAIN)
    configs.containerd(LAYOUT)
    sock = LAYOUT.containerd_socket
    # containerd finds its shim, and the shim runc, on PATH.
    env = {**os.environ, "PATH": f"{CACHE / 'bin'}:{os.environ['PATH']}"}
    spawn("containerd", [bin_path("containerd"), "--config", str(STATE / "containerd/config.toml")], env=env)
    wait_for("containerd", sock.exists, 30)
    import_pause_image(sock)
    configs.kubelet(LAYOUT)
    spawn("kubelet", [bin_path("kubelet"), f"--config={STATE / 'kubelet/config.yaml'}",
                      f"--kubeconfig={kubeconfig_of('kubelet')}", f"--root-dir={STATE / 'kubelet/root'}",
                      f"--cert-dir={STATE / 'kubelet/pki'}", f"--hostname-override={NODE}", "--v=1"], env=env)
    spawn("proxy", [bin_path("kube-proxy"), f"--kubeconfig={kubeconfig_of('proxy')}", "--bind-address=127.0.0.1",
                    f"--hostname-override={NODE}", f"--cluster-cidr={POD_CIDR}", "--proxy-mode=iptables",
                    "--masquerade-all", "--conntrack-max-per-core=0",
                    # Rules follow every endpoint change at once, not up to a second later: a test's first
                    # request after devstack saw the Service's endpoints must not race kube-proxy.
                    "--iptables-min-sync-period=0s",
                    "--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0",
                    "--healthz-bind-address=127.0.0.1:10256", "--metrics-bind-address=127.0.0.1:10249"], env=env)
    admin = kubeconfig_of("admin")
    spawn("dns", [bin_path("coredns"), "-conf", str(configs.corefile(LAYOUT, admin))])
    spawn("provisioner", [sys.executable, str(HERE / "provisioner.py"), "--kubeconfig", str(admin),
                          "--root", str(STATE / "volumes")])
    wait_for(f"node {NODE} Ready", lambda: node_ready(admin), 120)
    wait_for("cluster DNS", lambda: resolves("kubernetes.default.svc.cluster.local") == "10.96.0.1", 60)
    # Pods are refused until their namespace's default ServiceAccount exists.
    wait_for("default service account", lambda: kubectl(admin, "-n", "default", "get", "serviceaccount",
                                                        "default", "-o", "name", check=False) != "", 60)


def import_pause_image(sock: Path) -> None:
    """The sandbox image, built here: a static program that sleeps until signalled, imported into containerd."""
    tar = CACHE / "pause.tar"
    if not tar.exists():
        machine.build_pause_tar(tar, PAUSE_IMAGE)
    machine.quiet([bin_path("ctr"), "--address", str(sock), "-n", "k8s.io", "images", "import", str(tar)])


def announce_registry() -> None:
    subprocess.run([bin_path("kubectl"), f"--kubeconfig={kubeconfig_of('admin')}", "apply", "-f", "-"],
                   input=configs.registry_hosting(REGISTRY), text=True, check=True, stdout=subprocess.DEVNULL)


def resolves(name: str) -> str:
    """The first A record the cluster DNS gives for `name`, '' when none (or no answer yet)."""
    query = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes((len(p),)) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1)
        try:
            sock.sendto(query, (GATEWAY, 53))
            reply = sock.recv(512)
        except OSError:
            return ""
    if len(reply) < len(query) + 16 or struct.unpack("!H", reply[6:8])[0] == 0:
        return ""
    return socket.inet_ntoa(reply[-4:])  # the answer's record follows the question; its address ends it


# --- down -----------------------------------------------------------------------------------------------------

def down() -> int:
    if not STATE.exists():
        say("not running")
        return 0
    left = teardown(quiet=False)
    if left:
        print("test cluster: left behind after down:\n  " + "\n  ".join(left), file=sys.stderr)
        return 1
    say("stopped; nothing left behind")
    return 0


def teardown(quiet: bool) -> list[str]:
    """Stop everything, undo every change to the machine, remove the state; what could not be undone."""
    pids = STATE / "pids"
    shim_sockets = machine.shim_sockets(LAYOUT.containerd_socket, STATE / "containerd/state")
    for name in reversed(COMPONENTS):
        if name == "proxy":
            machine.stop_pidfile(pids / f"{name}.pid")
            if (CACHE / "bin/kube-proxy").exists():  # removes the KUBE-* chains it made
                subprocess.run([str(CACHE / "bin/kube-proxy"), "--cleanup"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=False)
        elif name == "containerd":
            machine.kill_cgroup_tasks("kubepods")  # the pods' processes, then their shims
            machine.kill_matching(str(STATE / "containerd"))
            machine.stop_pidfile(pids / f"{name}.pid")
        else:
            machine.stop_pidfile(pids / f"{name}.pid")
    machine.kill_matching(str(STATE))  # anything else started from the state directory
    machine.unmount_under(STATE)
    machine.remove_cgroups("kubepods")
    machine.delete_interface(BRIDGE)
    machine.remove_files(shim_sockets)  # killed shims leave their sockets in containerd's fixed /run folder
    baseline = STATE / "baseline.json"
    machine.remove_new_default_paths(baseline)
    left: list[str] = []
    if baseline.exists():
        left = machine.restore(baseline, chains=("KUBE-", "CNI-", FORWARD_CHAIN), log_dirs=(Path("/var/log/pods"),
                                                                             Path("/var/log/containers")))
    left += machine.leftovers(STATE, BRIDGE, baseline, shim_sockets)
    shutil.rmtree(STATE, ignore_errors=True)
    if STATE.exists():
        left.append(f"state directory {STATE} could not be removed")
    if not quiet:
        for line in left:
            say(f"left behind: {line}")
    return left


# --- helpers --------------------------------------------------------------------------------------------------

def spawn(name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    say(f"starting {name}")
    log = open(STATE / "logs" / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env=env, cwd=STATE)
    (STATE / "pids" / f"{name}.pid").write_text(str(proc.pid))


def wait_for(what: str, check: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        dead = [p.stem for p in (STATE / "pids").glob("*.pid") if not machine.alive(int(p.read_text()))]
        if dead:
            raise SystemExit(f"test cluster: {', '.join(dead)} exited; see {STATE / 'logs'}")
        time.sleep(0.5)
    raise SystemExit(f"test cluster: {what} not ready within {timeout_s:.0f}s; see {STATE / 'logs'}")


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run([bin_path("kubectl"), f"--kubeconfig={kubeconfig}", "--request-timeout=5s", *args],
                            capture_output=True, text=True, check=False)
    if check and result.returncode:
        raise SystemExit(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip() if result.returncode == 0 else ""


def node_ready(admin: Path) -> bool:
    jsonpath = '{.status.conditions[?(@.type=="Ready")].status}'
    return kubectl(admin, "get", "node", NODE, "-o", f"jsonpath={jsonpath}", check=False) == "True"


def running() -> bool:
    pids = STATE / "pids"
    return all((pids / f"{n}.pid").exists() and machine.alive(int((pids / f"{n}.pid").read_text()))
               for n in COMPONENTS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status", "bin", "stop", "start"])
    parser.add_argument("part", nargs="?", choices=parts.STOPPABLE, help="the part to stop or start")
    parser.add_argument("--kubeconfig", type=Path, help="also write the kubeconfig here (up)")
    args = parser.parse_args()
    if args.command == "bin":
        print(CACHE / "bin")
        return 0
    if os.geteuid() != 0:
        print("test cluster: needs root (mounts, cgroups, a bridge, iptables)", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.command == "up":
        return up(args.kubeconfig)
    if args.command == "down":
        return down()
    if args.command in ("stop", "start"):
        if not args.part:
            parser.error(f"{args.command}: which part? ({', '.join(parts.STOPPABLE)})")
        pid = (parts.stop if args.command == "stop" else parts.start)(STATE, args.part)
        say(f"{args.part} {'stopped' if args.command == 'stop' else 'started'} (pid {pid})")
        return 0
    print("running" if running() else "not running")
    return 0 if running() else 1


if __name__ == "__main__":
    sys.exit(main())
