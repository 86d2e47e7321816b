"""The test cluster's bookkeeping on the host: processes, mounts, cgroups, the pod bridge, iptables chains,
sysctls and the kubelet's log folders. `record_baseline` notes how the machine was before `up`; `restore` puts
back what the cluster changed and `leftovers` names anything that stayed."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

# What the kubelet (vm.*, kernel.*), kube-proxy (route_localnet, bridge-nf-call-*, conntrack) and the CNI bridge
# plugin (ip_forward) may set on the host.
SYSCTLS = ("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
           "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/conf/all/route_localnet",
           "net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables",
           "net/netfilter/nf_conntrack_max", "net/netfilter/nf_conntrack_tcp_timeout_established",
           "net/netfilter/nf_conntrack_tcp_timeout_close_wait", "net/netfilter/nf_conntrack_tcp_be_liberal",
           "net/netfilter/nf_conntrack_udp_timeout", "net/netfilter/nf_conntrack_udp_timeout_stream")
# Places outside the state directory that the components would use by default: the cluster configures each away
# (cluster.py, configs.py), but for the kubelet's device-plugin socket, whose folder is fixed
# (/var/lib/kubelet/device-plugins); `down` removes those that were not there before, and checks.
DEFAULT_PATHS = (Path("/var/lib/kubelet"), Path("/var/lib/containerd"), Path("/opt/containerd"),
                 Path("/var/run/nri"), Path("/etc/kubernetes"), Path("/var/lib/etcd"))
CGROUP_ROOT = Path("/sys/fs/cgroup")


def record_baseline(path: Path) -> None:
    baseline = {
        "sysctls": {key: _read(Path("/proc/sys") / key) for key in SYSCTLS if (Path("/proc/sys") / key).exists()},
        "chains": sorted(_chains()),
        "paths": sorted(str(p) for p in DEFAULT_PATHS if p.exists()),
        "logs": {str(d): sorted(p.name for p in d.iterdir()) if d.is_dir() else None
                 for d in (Path("/var/log/pods"), Path("/var/log/containers"))},
    }
    path.write_text(json.dumps(baseline, indent=2))


def restore(path: Path, chains: tuple[str, ...], log_dirs: tuple[Path, ...]) -> list[str]:
    baseline = json.loads(path.read_text())
    left: list[str] = []
    for key, value in baseline["sysctls"].items():
        target = Path("/proc/sys") / key
        if target.exists() and _read(target) != value:
            try:
                target.write_text(value + "\n")
            except OSError as err:
                left.append(f"sysctl {key.replace('/', '.')} not restored to {value}: {err}")
    _remove_chains({c for c in _chains() if c.split(" ")[1].startswith(chains)} - set(baseline["chains"]))
    for d in log_dirs:
        before = baseline["logs"].get(str(d))
        if d.is_dir():
            for entry in d.iterdir():
                if before is None or entry.name not in before:
                    subprocess.run(["rm", "-rf", str(entry)], check=False)
            if before is None:
                _try(lambda d=d: d.rmdir())
    for key, value in baseline["sysctls"].items():
        now = _read(Path("/proc/sys") / key) if (Path("/proc/sys") / key).exists() else value
        if now != value:
            left.append(f"sysctl {key.replace('/', '.')} is {now}, was {value}")
    added = {c for c in _chains() if c.split(" ")[1].startswith(chains)} - set(baseline["chains"])
    left += [f"iptables chain {c}" for c in sorted(added)]
    return left


def leftovers(state: Path, bridge: str, baseline: Path, sockets: list[Path]) -> list[str]:
    left = [f"process {pid}: {cmd[:120]}" for pid, cmd in _processes() if str(state) in cmd]
    left += [f"mount {m}" for m in _mounts() if m.startswith(str(state)) or "/kubepods" in m]
    if (Path("/sys/class/net") / bridge).exists():
        left.append(f"interface {bridge}")
    left += [f"cgroup {p}" for p in CGROUP_ROOT.glob("*/kubepods")]
    left += [f"shim socket {p}" for p in sockets if p.exists()]
    before = set(json.loads(baseline.read_text()).get("paths", [])) if baseline.exists() else set()
    left += [f"{p} (a component's default folder)" for p in DEFAULT_PATHS if p.exists() and str(p) not in before]
    return left


def remove_new_default_paths(baseline: Path) -> None:
    before = set(json.loads(baseline.read_text()).get("paths", [])) if baseline.exists() else set()
    for path in DEFAULT_PATHS:
        if path.exists() and str(path) not in before:
            subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)


def shim_sockets(address: Path, state: Path) -> list[Path]:
    """The sockets of the runtime's shims for every container the private containerd knows. A shim's socket is
    in containerd's fixed /run/containerd/s, shared with any other containerd on the machine (dockerd's), named
    by a hash of containerd's address, the namespace and the container's id; so only ours are named here."""
    tasks = state / "io.containerd.runtime.v2.task"
    ids = [(ns.name, task.name) for ns in tasks.iterdir() if ns.is_dir() for task in ns.iterdir()] \
        if tasks.is_dir() else []
    return [Path("/run/containerd/s") / hashlib.sha256(f"{address}/{ns}/{task}".encode()).hexdigest()
            for ns, task in ids]


def remove_files(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_pidfile(pidfile: Path, grace_s: float = 10.0) -> None:
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal(pid, signal.SIGKILL)
    _reap(pid)
    pidfile.unlink()


def kill_matching(needle: str) -> None:
    """SIGKILL every process whose command line names `needle` (the state directory: shims, stray children)."""
    for pid, cmd in _processes():
        if needle in cmd:
            _signal(pid, signal.SIGKILL)
            _reap(pid)


def kill_cgroup_tasks(name: str) -> None:
    """SIGKILL the pods' processes: every task in the kubelet's cgroup tree, in every controller."""
    for _ in range(3):
        pids = {int(line) for procs in CGROUP_ROOT.glob(f"*/{name}/**/cgroup.procs")
                for line in _read(procs).split() if line}
        if not pids:
            return
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        time.sleep(0.5)


def remove_cgroups(name: str) -> None:
    for top in CGROUP_ROOT.glob(f"*/{name}"):
        for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            _try(folder.rmdir)
        _try(top.rmdir)


def unmount_under(root: Path) -> None:
    """Unmount everything below `root` (pod volumes, overlay root filesystems, network namespaces), deepest
    first; netns bind mounts may need more than one pass."""
    for _ in range(3):
        points = sorted((m for m in _mounts() if m.startswith(str(root) + "/")), key=lambda m: -m.count("/"))
        if not points:
            return
        for point in points:
            if subprocess.run(["umount", point], capture_output=True, check=False).returncode:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def make_bridge(name: str, cidr: str) -> None:
    """The pod bridge with its gateway address, made before the first pod so that the DNS responder can bind the
    gateway; the CNI bridge plugin adopts it."""
    if not (Path("/sys/class/net") / name).exists():
        subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "replace", cidr, "dev", name], check=True)
    subprocess.run(["ip", "link", "set", name, "up"], check=True)


def accept_forwarding(bridge: str, chain: str) -> None:
    """Let pods talk to each other directly. The kernel hands bridged traffic to iptables (br_netfilter), where
    Docker's FORWARD policy is DROP: without this only traffic through a Service (which kube-proxy marks and
    accepts) gets through. In a chain of its own, jumped to first, so that `down` finds and removes it."""
    subprocess.run(["iptables", "-N", chain], capture_output=True, check=False)
    subprocess.run(["iptables", "-F", chain], check=True)
    for direction in ("-i", "-o"):
        subprocess.run(["iptables", "-A", chain, direction, bridge, "-j", "ACCEPT"], check=True)
    if subprocess.run(["iptables", "-C", "FORWARD", "-j", chain], capture_output=True, check=False).returncode:
        subprocess.run(["iptables", "-I", "FORWARD", "1", "-j", chain], check=True)


def delete_interface(name: str) -> None:
    if (Path("/sys/class/net") / name).exists():
        subprocess.run(["ip", "link", "delete", name], check=False)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return 200 <= status < 300
    except OSError:
        return False


def build_pause_tar(tar: Path, name: str) -> None:
    """The pod sandbox image: a static C program that waits for a signal, in an image of its own, saved for
    `ctr images import`. Built with the host's gcc and docker; no registry involved."""
    source = "#include <signal.h>\n#include <unistd.h>\nstatic void bye(int s){(void)s;_exit(0);}\n" \
             "int main(void){signal(SIGTERM,bye);signal(SIGINT,bye);for(;;)pause();}\n"
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "pause.c").write_text(source)
        subprocess.run(["gcc", "-static", "-Os", "-s", "-o", str(work / "pause"), str(work / "pause.c")], check=True)
        (work / "Dockerfile").write_text('FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n')
        quiet(["docker", "build", "-q", "-t", name, str(work)])
        subprocess.run(["docker", "save", "-o", str(tar), name], check=True)
        subprocess.run(["docker", "rmi", name], check=True, stdout=subprocess.DEVNULL)


def quiet(argv: list[str]) -> None:
    """Run a command whose chatter (deprecation notes) is of no interest unless it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode:
        raise SystemExit(f"test cluster: {' '.join(argv)} failed (exit {result.returncode}):\n{result.stderr}")


def _chains() -> set[str]:
    """"table CHAIN" for every chain in the filter, nat and mangle tables, IPv4 ("filter X") and IPv6 ("filter6
    X": kube-proxy and the kubelet program both families)."""
    found: set[str] = set()
    for family in ("", "6"):
        for table in ("filter", "nat", "mangle"):
            out = subprocess.run([f"ip{family}tables-save", "-t", table], capture_output=True, text=True,
                                 check=False).stdout
            found |= {f"{table}{family} {line[1:].split()[0]}" for line in out.splitlines() if line.startswith(":")}
    return found


def _remove_chains(chains: set[str]) -> None:
    for key in {c.split(" ")[0] for c in chains}:
        table, family = key.rstrip("6"), key[len(key.rstrip("6")):]
        names = {c.split(" ")[1] for c in chains if c.startswith(key + " ")}
        tool = f"ip{family}tables"
        out = subprocess.run([f"{tool}-save", "-t", table], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():  # first every rule that jumps to one of them, wherever it is
            words = shlex.split(line)
            targets = {words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-j", "-g")}
            if line.startswith("-A ") and targets & names:
                subprocess.run([tool, "-t", table, "-D", *words[1:]], capture_output=True, check=False)
        for name in names:
            subprocess.run([tool, "-t", table, "-F", name], capture_output=True, check=False)
        for name in names:
            subprocess.run([tool, "-t", table, "-X", name], capture_output=True, check=False)


def _mounts() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def _processes() -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            if cmd:
                found.append((int(entry.name), cmd))
    return found


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _try(action: object) -> None:
    with contextlib.suppress(OSError):
        action()  # type: ignore[operator]
