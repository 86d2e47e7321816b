#!/usr/bin/env bash
# Builds what the test cluster runs, once per version, into a cache outside the clone ($CACHE, printed), from the
# Go modules of each release (tests/cluster/go/*: small modules of our own that name them) and Debian's archive:
#   $CACHE/bin/kube      Kubernetes v1.37.2 and etcd v3.7.0 in one program (tests/cluster/go/kube), with a link
#                        per component: kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy
#                        kubeadm kubectl etcd (each link runs that component; `kube NAME ...` does too)
#   $CACHE/bin/          containerd, containerd-shim-runc-v2, ctr (containerd v2.4.2), runc (v1.5.3, with
#                        seccomp), coredns (v1.14.6, the plugins of the cluster's and kind's Corefiles), helm (v4.3.2)
#   $CACHE/cni/          the CNI plugins bridge, host-local, loopback, portmap (v1.10.0)
#   $CACHE/root/         Debian's docker-registry, unpacked with dpkg-deb -x (no packaged service starts)
#   $CACHE/versions.txt  what each program is, for a node image or a report
# Each program is built once: a later call finds it and goes on; a call that finds everything returns at once.
# Compiled packages stay in Go's build cache (~/.cache/go-build), so a rebuild after a version change is quicker.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_VERSION=v1.37.2
CACHE="${DEVSTACK_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/devstack/test-cluster/$K8S_VERSION}"
KUBE_LINKS="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubeadm kubectl etcd"
GO_MIN=1.26
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0

say() { printf '[test-cluster build %(%H:%M:%S)T] %s\n' -1 "$*"; }

# The plugins tests/cluster/go/coredns compiles in: a cached coredns without one of them (built before the kind node
# image came to use the same build) is built again.
COREDNS_PLUGINS="bind cache errors forward health kubernetes loadbalance log loop prometheus ready reload template"
coredns_current() {
    local have
    have="$("$CACHE/bin/coredns" -plugins 2>/dev/null)" || return 1
    for plugin in $COREDNS_PLUGINS; do grep -qx "$plugin" <<<"$have" || return 1; done
}

if [ -f "$CACHE/.complete" ] && coredns_current; then say "binaries cached in $CACHE"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "building the test cluster needs root (apt-get; the cluster itself needs mounts and iptables)" >&2; exit 1; fi
mkdir -p "$CACHE/bin" "$CACHE/cni" "$CACHE/logs"
export DEBIAN_FRONTEND=noninteractive

# Build tools (gcc and libseccomp for runc and the pause image) and what the cluster calls at run time.
need=""
for pkg in $(cat "$HERE/debian-packages"); do  # `make packages` installs them too, with the suite's others
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need="$need $pkg"
done
apt_quiet() {  # its output only when it fails
    if ! apt-get "$@" >"$CACHE/logs/apt.log" 2>&1; then
        echo "apt-get $* failed:" >&2; tail -n 20 "$CACHE/logs/apt.log" >&2; exit 1
    fi
}
if [ -n "$need" ] || [ ! -f "$CACHE/root/.unpacked" ]; then apt_quiet update -q; fi
if [ -n "$need" ]; then
    say "installing from Debian:$need"
    apt_quiet install -y -q --no-install-recommends $need
fi

if ! command -v go >/dev/null 2>&1; then
    echo "building the test cluster needs Go $GO_MIN or newer on PATH (go version: none)" >&2; exit 1
fi
go_version="$(go env GOVERSION)"; go_version="${go_version#go}"
if [ "$(printf '%s\n%s\n' "$GO_MIN" "$go_version" | sort -V | head -1)" != "$GO_MIN" ]; then
    echo "building the test cluster needs Go $GO_MIN or newer; $(command -v go) is $go_version" >&2; exit 1
fi

# go build with its package lines counted: one progress line every 100 packages and at the end, the whole list in
# $CACHE/logs/NAME.log. Usage: gobuild NAME MODULE_DIR go-build-arguments...
gobuild() {
    local name="$1" dir="$2"; shift 2
    local log="$CACHE/logs/$name.log" started=$SECONDS cpu_before
    cpu_before="$(children_cpu_seconds)"
    say "building $name (go build in tests/cluster/go/$(basename "$dir"); log: $log)"
    if ! (cd "$dir" && nice -n 10 go build -v -trimpath "$@") 2>&1 | tee "$log" | count_lines "$name"; then
        echo "building $name failed; the last lines of $log:" >&2
        tail -n 25 "$log" >&2
        exit 1
    fi
    local cpu=$(( $(children_cpu_seconds) - cpu_before ))
    say "built $name in $((SECONDS - started))s ($cpu s of CPU time)"
    printf '%s wall %ss cpu %ss\n' "$name" "$((SECONDS - started))" "$cpu" >>"$CACHE/logs/times.txt"
}

# User + system seconds of this script's finished children (the cutime and cstime of /proc/PID/stat, in ticks).
children_cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%d", ($14 + $15) / hz }' "/proc/$$/stat"
}

count_lines() {
    local count=0 line
    while IFS= read -r line; do
        count=$((count + 1))
        if [ $((count % 100)) = 0 ]; then say "  $1: $count packages compiled or checked"; fi
    done
    say "  $1: $count packages compiled"
}

# -X flags that set the version variables a release build sets.
kube_ldflags() {
    local flags="-s -w" date pkg
    date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags="$flags -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=37"
        flags="$flags -X $pkg.gitTreeState=archive -X $pkg.buildDate=$date"
    done
    echo "$flags"
}

go_dir="$HERE/go"
if [ ! -x "$CACHE/bin/kube" ]; then
    gobuild kube "$go_dir/kube" -tags selinux,notest,grpcnotrace -ldflags "$(kube_ldflags)" -o "$CACHE/bin/kube.new" .
    mv "$CACHE/bin/kube.new" "$CACHE/bin/kube"
fi
for link in $KUBE_LINKS; do ln -sfn kube "$CACHE/bin/$link"; done

if [ ! -x "$CACHE/bin/containerd" ] || [ ! -x "$CACHE/bin/containerd-shim-runc-v2" ] || [ ! -x "$CACHE/bin/ctr" ]; then
    # Without cgo the btrfs snapshotter (C headers) is left out; the cluster uses overlayfs.
    gobuild containerd "$go_dir/containerd" -tags no_btrfs,no_devmapper,no_zfs \
        -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=v2.4.2" -o "$CACHE/bin/" \
        github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
        github.com/containerd/containerd/v2/cmd/ctr
fi

if [ ! -x "$CACHE/bin/runc" ]; then
    # cgo for libseccomp (seccomp profiles, RuntimeDefault); libpathrs, a Rust library, is left out as Debian has none.
    CGO_ENABLED=1 gobuild runc "$go_dir/runc" -tags seccomp,urfave_cli_no_docs \
        -ldflags "-s -w -X main.version=1.5.3" -o "$CACHE/bin/runc" github.com/opencontainers/runc
fi

cni_plugins="main/bridge ipam/host-local main/loopback meta/portmap"
if [ ! -x "$CACHE/cni/portmap" ]; then
    gobuild cni "$go_dir/cni" \
        -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=v1.10.0" \
        -o "$CACHE/cni/" $(for p in $cni_plugins; do echo "github.com/containernetworking/plugins/plugins/$p"; done)
fi

if ! coredns_current; then
    gobuild coredns "$go_dir/coredns" -ldflags "-s -w" -o "$CACHE/bin/coredns.new" .
    mv "$CACHE/bin/coredns.new" "$CACHE/bin/coredns"  # a running cluster's coredns keeps the old file
fi

if [ ! -x "$CACHE/bin/helm" ]; then
    gobuild helm "$go_dir/helm" -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=v4.3.2 -X helm.sh/helm/v4/internal/version.metadata=" \
        -o "$CACHE/bin/helm" helm.sh/helm/v4/cmd/helm
fi

if [ ! -f "$CACHE/root/.unpacked" ]; then
    say "downloading and unpacking Debian's docker-registry"
    rm -rf "$CACHE/root" "$CACHE/debs"; mkdir -p "$CACHE/root" "$CACHE/debs"
    (cd "$CACHE/debs" && apt_quiet -o APT::Sandbox::User=root download -q docker-registry)
    for deb in "$CACHE/debs"/*.deb; do dpkg-deb -x "$deb" "$CACHE/root"; done
    touch "$CACHE/root/.unpacked"
    rm -rf "$CACHE/debs"
fi

{
    "$CACHE/bin/kubectl" version --client 2>/dev/null | sed -n 1p
    "$CACHE/bin/etcd" --version 2>/dev/null | sed -n 1p
    "$CACHE/bin/containerd" --version
    "$CACHE/bin/runc" --version | sed -n 1p
    "$CACHE/cni/bridge" --version 2>&1 | sed -n 1p
    "$CACHE/bin/coredns" -version | sed -n 1p
    "$CACHE/bin/helm" version --short
} >"$CACHE/versions.txt"
touch "$CACHE/.complete"
say "done, in $CACHE:"
sed 's/^/    /' "$CACHE/versions.txt"
