#!/usr/bin/env python3
"""devstack's test cluster: a real single-node Kubernetes v1.20.2 on 127.0.0.1, for `make test`.

    cluster.py up [--kubeconfig PATH]   start it (or report the running one) and write a kubeconfig whose
                                        context is `devstack-test`; returns when the node is Ready
    cluster.py down                     stop it and undo everything it did to the machine; exit 1 naming
                                        anything that stayed behind
    cluster.py status                   say whether it runs (exit 0) or not (exit 1)

What runs (binaries from tests/cluster/build.sh's cache): etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, a private containerd (own root, state and socket, never dockerd's), kubelet, kube-proxy, the CNI
bridge, Debian's docker-registry on 127.0.0.1:5001 (announced by the KEP-1755 ConfigMap), a DNS responder for
*.svc.cluster.local (dns.py; CoreDNS is not packaged in Debian) and a hostPath volume provisioner behind the
default StorageClass `standard` (provisioner.py), as kind has. Every listener is on 127.0.0.1, except the DNS
responder on the pod bridge's gateway, where pods reach it. Kubernetes 1.20 is end-of-life: a test cluster only.

All state lives under one directory (DEVSTACK_CLUSTER_STATE, default /var/lib/devstack-test-cluster), and what
the machine looked like before (sysctls, iptables chains, interfaces, mounts) is recorded there at `up` so that
`down` can restore it and check. A cluster left by a killed session is cleaned up by the next `up`.

Standard library only: it runs before devstack's virtualenv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine
import pki

VERSION = "v1.20.2"
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

# Start order; `down` stops them in reverse.
COMPONENTS = ("etcd", "apiserver", "controller-manager", "scheduler", "registry", "containerd", "kubelet",
              "proxy", "dns", "provisioner")


def say(message: str) -> None:
    print(f"[test-cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


def bin_path(name: str) -> str:
    for folder in (CACHE / "bin", CACHE / "root/usr/bin", CACHE / "root/usr/sbin", CACHE / "root/usr/lib/cni"):
        if (folder / name).exists():
            return str(folder / name)
    raise SystemExit(f"test cluster: {name} is not in {CACHE}: run tests/cluster/build.sh (make test-cluster does)")


# --- up -------------------------------------------------------------------------------------------------------

def up(kubeconfig: Path | None) -> int:
    if running():
        say(f"already running (state in {STATE})")
        if kubeconfig:
            write_kubeconfig(kubeconfig)
        return 0
    if STATE.exists():
        say(f"cleaning up a cluster that is no longer running ({STATE})")
        teardown(quiet=True)
    started = time.monotonic()
    for sub in ("pki", "logs", "pids", "etcd", "registry", "containerd", "kubelet", "cni/net.d", "cni/ipam",
                "volumes"):
        (STATE / sub).mkdir(parents=True, exist_ok=True)
    machine.record_baseline(STATE / "baseline.json")
    say("certificates")
    pki.make(STATE / "pki", names=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                   "kubernetes.default.svc.cluster.local"],
             ips=["127.0.0.1", "10.96.0.1"])
    admin = STATE / "admin.kubeconfig"
    write_kubeconfig(admin)
    try:
        start_control_plane(admin)
        start_node(admin)
        announce_registry(admin)
    except BaseException:
        say(f"start failed: logs in {STATE / 'logs'}; stopping what started")
        teardown(quiet=True)
        raise
    if kubeconfig:
        write_kubeconfig(kubeconfig)
    say(f"ready in {time.monotonic() - started:.0f}s: context {CONTEXT!r}, registry {REGISTRY}")
    return 0


def start_control_plane(admin: Path) -> None:
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
                        "--insecure-port=0", f"--client-ca-file={pk}/ca.crt",
                        f"--tls-cert-file={pk}/apiserver.crt", f"--tls-private-key-file={pk}/apiserver.key",
                        f"--service-cluster-ip-range={SERVICE_CIDR}",
                        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                        f"--service-account-key-file={pk}/sa.pub",
                        f"--service-account-signing-key-file={pk}/sa.key",
                        "--authorization-mode=Node,RBAC", "--allow-privileged=true",
                        f"--kubelet-client-certificate={pk}/admin.crt", f"--kubelet-client-key={pk}/admin.key",
                        "--kubelet-preferred-address-types=InternalIP,Hostname", "--profiling=false",
                        # The node (and so the API server) is on loopback, which an Endpoints address may not be.
                        "--endpoint-reconciler-type=none"])
    wait_for("kube-apiserver", lambda: kubectl(admin, "get", "--raw", "/readyz", check=False) == "ok", 90)
    spawn("controller-manager", [bin_path("kube-controller-manager"), f"--kubeconfig={admin}",
                                 "--bind-address=127.0.0.1", "--port=0", "--leader-elect=false",
                                 f"--service-account-private-key-file={pk}/sa.key", f"--root-ca-file={pk}/ca.crt",
                                 f"--cluster-signing-cert-file={pk}/ca.crt",
                                 f"--cluster-signing-key-file={pk}/ca.key",
                                 "--use-service-account-credentials=false", "--profiling=false"])
    spawn("scheduler", [bin_path("kube-scheduler"), f"--kubeconfig={admin}", "--bind-address=127.0.0.1",
                        "--port=0", "--leader-elect=false", "--profiling=false"])
    config = STATE / "registry/config.yml"
    config.write_text(textwrap.dedent(f"""\
        version: 0.1
        log: {{level: warn}}
        storage:
          filesystem: {{rootdirectory: {STATE / 'registry/data'}}}
          delete: {{enabled: true}}
        http: {{addr: "{REGISTRY}"}}
        """))
    spawn("registry", [bin_path("docker-registry"), "serve", str(config)])
    wait_for("registry", lambda: machine.http_ok(f"http://{REGISTRY}/v2/"), 30)


def start_node(admin: Path) -> None:
    machine.make_bridge(BRIDGE, f"{GATEWAY}/24")
    machine.accept_forwarding(BRIDGE, FORWARD_CHAIN)
    write_containerd_config()
    env = {**os.environ, "PATH": f"{CACHE / 'root/usr/bin'}:{CACHE / 'root/usr/sbin'}:{os.environ['PATH']}"}
    sock = STATE / "containerd/containerd.sock"
    spawn("containerd", [bin_path("containerd"), "--config", str(STATE / "containerd/config.toml")], env=env)
    wait_for("containerd", sock.exists, 30)
    import_pause_image(sock)
    write_kubelet_config()
    spawn("kubelet", [bin_path("kubelet"), f"--config={STATE / 'kubelet/config.yaml'}", f"--kubeconfig={admin}",
                      "--container-runtime=remote", f"--container-runtime-endpoint=unix://{sock}",
                      f"--root-dir={STATE / 'kubelet/root'}", f"--hostname-override={NODE}", "--v=1"], env=env)
    spawn("proxy", [bin_path("kube-proxy"), f"--kubeconfig={admin}", "--bind-address=127.0.0.1",
                    f"--hostname-override={NODE}", f"--cluster-cidr={POD_CIDR}", "--proxy-mode=iptables",
                    "--masquerade-all", "--conntrack-max-per-core=0",
                    # Rules follow every endpoint change at once, not up to a second later: a test's first
                    # request after devstack saw the Service's endpoints must not race kube-proxy.
                    "--iptables-min-sync-period=0s",
                    "--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0",
                    "--healthz-bind-address=127.0.0.1:10256", "--metrics-bind-address=127.0.0.1:10249"], env=env)
    spawn("dns", [sys.executable, str(HERE / "dns.py"), "--listen", GATEWAY, "--kubeconfig", str(admin)])
    spawn("provisioner", [sys.executable, str(HERE / "provisioner.py"), "--kubeconfig", str(admin),
                          "--root", str(STATE / "volumes")])
    wait_for(f"node {NODE} Ready", lambda: node_ready(admin), 120)
    # Pods are refused until their namespace's default ServiceAccount exists.
    wait_for("default service account", lambda: kubectl(admin, "-n", "default", "get", "serviceaccount",
                                                        "default", "-o", "name", check=False) != "", 60)


def write_containerd_config() -> None:
    c = STATE / "containerd"
    (c / "config.toml").write_text(textwrap.dedent(f"""\
        version = 2
        root = "{c / 'root'}"
        state = "{c / 'state'}"
        [grpc]
          address = "{c / 'containerd.sock'}"
        [ttrpc]
          address = "{c / 'containerd.sock.ttrpc'}"
        [plugins."io.containerd.internal.v1.opt"]
          path = "{c / 'opt'}"
        [plugins."io.containerd.grpc.v1.cri"]
          sandbox_image = "{PAUSE_IMAGE}"
          # The sandbox has no CAP_SYS_RESOURCE: without this every pod fails to start.
          restrict_oom_score_adj = true
          netns_mounts_under_state_dir = true
          stream_server_address = "127.0.0.1"
          [plugins."io.containerd.grpc.v1.cri".containerd]
            snapshotter = "overlayfs"
            default_runtime_name = "runc"
            [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
              runtime_type = "io.containerd.runc.v2"
              [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
                BinaryName = "{bin_path('runc')}"
          [plugins."io.containerd.grpc.v1.cri".cni]
            bin_dir = "{CACHE / 'root/usr/lib/cni'}"
            conf_dir = "{STATE / 'cni/net.d'}"
          [plugins."io.containerd.grpc.v1.cri".registry.mirrors."{REGISTRY}"]
            endpoint = ["http://{REGISTRY}"]
        """))
    (STATE / "cni/net.d/10-devstack-test.conflist").write_text(json.dumps({
        "cniVersion": "0.4.0", "name": "devstack-test",
        "plugins": [{"type": "bridge", "bridge": BRIDGE, "isGateway": True, "isDefaultGateway": True, "ipMasq": False,
                     "hairpinMode": True,
                     "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR, "gateway": GATEWAY}]],
                              "dataDir": str(STATE / "cni/ipam")}}],
    }, indent=2))


def write_kubelet_config() -> None:
    k = STATE / "kubelet"
    (k / "resolv.conf").write_text("")  # pods get the cluster DNS only, none of the host's search domains
    (k / "config.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: kubelet.config.k8s.io/v1beta1
        kind: KubeletConfiguration
        address: 127.0.0.1
        port: 10250
        readOnlyPort: 0
        healthzBindAddress: 127.0.0.1
        authentication:
          anonymous: {{enabled: false}}
          webhook: {{enabled: false}}
          x509: {{clientCAFile: {STATE / 'pki/ca.crt'}}}
        authorization: {{mode: AlwaysAllow}}
        cgroupDriver: cgroupfs
        clusterDNS: ["{GATEWAY}"]
        clusterDomain: cluster.local
        resolvConf: {k / 'resolv.conf'}
        failSwapOn: false
        makeIPTablesUtilChains: false
        hairpinMode: hairpin-veth
        serializeImagePulls: false
        imageGCHighThresholdPercent: 100
        imageGCLowThresholdPercent: 99
        evictionHard: {{"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"}}
        staticPodPath: ""
        """))


def import_pause_image(sock: Path) -> None:
    """The sandbox image, built here: a static program that sleeps until signalled, imported into containerd."""
    tar = CACHE / "pause.tar"
    if not tar.exists():
        machine.build_pause_tar(tar, PAUSE_IMAGE)
    subprocess.run([bin_path("ctr"), "--address", str(sock), "-n", "k8s.io", "images", "import", str(tar)],
                   check=True, stdout=subprocess.DEVNULL)


def announce_registry(admin: Path) -> None:
    manifest = textwrap.dedent(f"""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: local-registry-hosting, namespace: kube-public}}
        data:
          localRegistryHosting.v1: |
            host: "{REGISTRY}"
            help: "devstack's test cluster: tests/cluster/README.md"
        """)
    subprocess.run(["kubectl", f"--kubeconfig={admin}", "apply", "-f", "-"], input=manifest, text=True,
                   check=True, stdout=subprocess.DEVNULL)


def write_kubeconfig(path: Path) -> None:
    pk = STATE / "pki"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": CONTEXT,
        "clusters": [{"name": CONTEXT, "cluster": {"server": f"https://127.0.0.1:{API_PORT}",
                                                   "certificate-authority": str(pk / "ca.crt")}}],
        "users": [{"name": f"{CONTEXT}-admin", "user": {"client-certificate": str(pk / "admin.crt"),
                                                        "client-key": str(pk / "admin.key")}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": f"{CONTEXT}-admin"}}],
    }, indent=2))
    path.chmod(0o600)


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
    baseline = STATE / "baseline.json"
    left: list[str] = []
    if baseline.exists():
        left = machine.restore(baseline, chains=("KUBE-", "CNI-", FORWARD_CHAIN), log_dirs=(Path("/var/log/pods"),
                                                                             Path("/var/log/containers")))
    left += machine.leftovers(STATE, BRIDGE)
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
    result = subprocess.run(["kubectl", f"--kubeconfig={kubeconfig}", "--request-timeout=5s", *args],
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
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--kubeconfig", type=Path, help="also write the kubeconfig here (up)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("test cluster: needs root (mounts, cgroups, a bridge, iptables)", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.command == "up":
        return up(args.kubeconfig)
    if args.command == "down":
        return down()
    print("running" if running() else "not running")
    return 0 if running() else 1


if __name__ == "__main__":
    sys.exit(main())
