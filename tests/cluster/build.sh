#!/usr/bin/env bash
# Builds what the test cluster runs, once per version, into a cache outside the clone:
#   $CACHE/bin       kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy (v1.20.2, from
#                    Debian 12's `kubernetes` source package, built with Debian's Go 1.19 and its vendor/ tree)
#   $CACHE/root      Debian's etcd-server, containerd, runc, CNI plugins and docker-registry, unpacked with
#                    dpkg-deb -x so that no packaged service is installed or started
# A later call finds $CACHE/.complete and returns at once. Prints each step: the build takes minutes.
set -euo pipefail

K8S_DEB_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
CACHE="${DEVSTACK_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/devstack/test-cluster/v1.20.2}"
RUNTIME_PKGS="etcd-server containerd runc containernetworking-plugins docker-registry"
BINARIES="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy"

say() { printf '[test-cluster build %(%H:%M:%S)T] %s\n' -1 "$*"; }

if [ -f "$CACHE/.complete" ]; then say "binaries cached in $CACHE"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "building the test cluster needs root (apt-get, mounts, network namespaces)" >&2; exit 1; fi
mkdir -p "$CACHE"
export DEBIAN_FRONTEND=noninteractive

# Host tools: the Go toolchain and what Kubernetes' build scripts call, plus what the cluster calls at run time.
say "installing build and run-time tools from Debian (golang-1.19-go, rsync, dpkg-dev, iptables, conntrack)"
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends golang-1.19-go rsync dpkg-dev iptables conntrack ethtool \
    socat util-linux mount iproute2 >/dev/null

work="$CACHE/work"
mkdir -p "$work"

# The source package, through a private apt configuration: the machine's own sources are left untouched.
if [ ! -d "$work/src" ]; then
    say "downloading Debian's kubernetes source package $K8S_DEB_VERSION"
    apt_dir="$work/apt"
    mkdir -p "$apt_dir/lists/partial"
    printf '%s\n' "deb-src http://deb.debian.org/debian bookworm main" \
                  "deb-src http://deb.debian.org/debian bookworm-updates main" \
                  "deb-src http://deb.debian.org/debian-security bookworm-security main" >"$apt_dir/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
              -o "Dir::State::Lists=$apt_dir/lists")
    apt-get "${apt_opts[@]}" -o APT::Sandbox::User=root update -q >/dev/null
    rm -rf "$work/dl"; mkdir -p "$work/dl"
    (cd "$work/dl" && apt-get "${apt_opts[@]}" -o APT::Sandbox::User=root source --download-only -q "kubernetes=$K8S_DEB_VERSION" >/dev/null)
    say "unpacking the source (308 MB)"
    (cd "$work/dl" && dpkg-source --no-check -x ./*.dsc "$work/src.tmp" >/dev/null)
    mv "$work/src.tmp" "$work/src"
    rm -rf "$work/dl"
fi

mkdir -p "$CACHE/bin"
missing=""
for b in $BINARIES; do [ -x "$CACHE/bin/$b" ] || missing="$missing cmd/$b"; done
if [ -n "$missing" ]; then
    say "building$missing with Go 1.19 (about 7 minutes on 2 cores; progress follows)"
    (
        cd "$work/src"
        export PATH="/usr/lib/go-1.19/bin:$PATH" GOFLAGS=-mod=vendor GOPROXY=off GO111MODULE=on
        export KUBE_GIT_VERSION=v1.20.2 KUBE_GIT_TREE_STATE=clean KUBE_BUILD_PLATFORMS=linux/amd64
        # One binary at a time, so each finished one is cached even if a later one is interrupted.
        for target in $missing; do
            say "go build $target"
            make WHAT="$target" 2>&1 | sed 's/^/    /'
            cp "_output/local/bin/linux/amd64/$(basename "$target")" "$CACHE/bin/"
        done
    )
fi

if [ ! -f "$CACHE/root/.unpacked" ]; then
    say "downloading and unpacking $RUNTIME_PKGS"
    rm -rf "$CACHE/root" "$work/debs"; mkdir -p "$CACHE/root" "$work/debs"
    (cd "$work/debs" && apt-get -o APT::Sandbox::User=root download -q $RUNTIME_PKGS >/dev/null)
    for deb in "$work/debs"/*.deb; do dpkg-deb -x "$deb" "$CACHE/root"; done
    touch "$CACHE/root/.unpacked"
    rm -rf "$work/debs"
fi

# The Go build tree is 3 GB: keep only the binaries.
say "removing the build tree"
rm -rf "$work"
touch "$CACHE/.complete"
say "done: $(ls "$CACHE/bin" | tr '\n' ' ')in $CACHE"
