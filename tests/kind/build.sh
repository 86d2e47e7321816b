#!/usr/bin/env bash
# Builds what the kind tests (tests/realkind) drive: the `kind` CLI from its Go module and a kind node image of
# Kubernetes v1.37.2 assembled on this machine, since `kind build node-image` fetches images from registries.
#
#   $CACHE/kind-v0.33.0/kind      kind, from tests/kind/go/kind
#   image devstack.test/kind-base:<digest>  Debian 12 with systemd 252 (debootstrap), per package list
#   image devstack.test/kind-node:<digest>  the node: the base, the test cluster's programs (tests/cluster/build.sh:
#                                  kubelet, kubeadm, kubectl, containerd 2, runc, CNI plugins), tests/kind/node/, and
#                                  the images kubeadm runs, preloaded (/kind/images, imported at the node's boot)
#
# The node image's tag is a digest of everything it is made of, so it is rebuilt only when an input changes; older
# tags of it are removed. Prints the image's name last. Needs root, Docker and Go.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
KIND_VERSION=v0.33.0
COREDNS_VERSION=v1.14.6
K8S_VERSION=v1.37.2
ETCD_TAG=3.7.0-0
PAUSE_TAG=3.10.2
CACHE="${DEVSTACK_KIND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/devstack/kind}"
CLUSTER_CACHE="${DEVSTACK_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/devstack/test-cluster/$K8S_VERSION}"
BASE_PACKAGES="systemd,systemd-sysv,dbus,iptables,iproute2,conntrack,ethtool,socat,mount,util-linux,kmod,procps,libseccomp2,ca-certificates,busybox-static,netbase"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0

say() { printf '[kind build %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
timed() {  # timed NAME command...: runs it, then says how long it took (also in $CACHE/times.txt)
    local name="$1" started=$SECONDS; shift
    "$@"
    say "$name took $((SECONDS - started)) s"
    printf '%s %s s\n' "$name" "$((SECONDS - started))" >>"$CACHE/times.txt"
}

if [ "$(id -u)" != 0 ]; then echo "building the kind node image needs root (debootstrap)" >&2; exit 1; fi
if [ ! -f "$CLUSTER_CACHE/.complete" ]; then
    echo "the kind node image is made of the test cluster's programs: run tests/cluster/build.sh first" >&2; exit 1
fi
mkdir -p "$CACHE"

gobuild() {  # gobuild OUTPUT MODULE_DIR PACKAGE
    (cd "$2" && nice -n 10 go build -trimpath -ldflags "-s -w" -o "$1.new" "$3") && mv "$1.new" "$1"
}
KIND="$CACHE/kind-$KIND_VERSION/kind"
if [ ! -x "$KIND" ]; then
    say "building kind $KIND_VERSION (tests/kind/go/kind)"
    mkdir -p "$(dirname "$KIND")"
    timed "kind" gobuild "$KIND" "$HERE/go/kind" sigs.k8s.io/kind
fi
COREDNS="$CLUSTER_CACHE/bin/coredns"  # the test cluster's build, with the plugins of kubeadm's Corefile too

# The node image's tag: a digest of its inputs (this script, the node's files, the programs it carries).
inputs_digest() {
    {
        (cd "$HERE" && find build.sh node go -type f | LC_ALL=C sort | xargs sha256sum)
        sha256sum "$COREDNS" "$CLUSTER_CACHE/versions.txt"
        (cd "$CLUSTER_CACHE" && find bin cni -type f | LC_ALL=C sort | xargs sha256sum)
    } | sha256sum | cut -c1-16
}
NODE_IMAGE="devstack.test/kind-node:$(inputs_digest)"
if docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then
    say "node image $NODE_IMAGE is built"
    echo "$NODE_IMAGE"; exit 0
fi

BASE_IMAGE="devstack.test/kind-base:$(echo "$BASE_PACKAGES" | sha256sum | cut -c1-16)"
ROOTFS="$CACHE/base-rootfs"
base_image() {
    if ! command -v debootstrap >/dev/null 2>&1; then
        apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
    fi
    rm -rf "$ROOTFS"
    debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$ROOTFS" http://deb.debian.org/debian \
        >"$CACHE/debootstrap.log" 2>&1 || { tail -n 20 "$CACHE/debootstrap.log" >&2; exit 1; }
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
    tar -C "$ROOTFS" -c . | docker import - "$BASE_IMAGE" >/dev/null
    echo "$BASE_PACKAGES" >"$ROOTFS/.packages"
}
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || [ "$(cat "$ROOTFS/.packages" 2>/dev/null)" != "$BASE_PACKAGES" ]; then
    say "Debian 12 with systemd for the node (debootstrap: about a minute; log: $CACHE/debootstrap.log)"
    timed "debootstrap and import" base_image
fi

WORK="$(mktemp -d "$CACHE/work.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# The images kubeadm runs (`kubeadm config images list`), the pause image and the CNI DaemonSet's: one small root
# file system (the multi-call kube, CoreDNS, pause, busybox and iptables with its libraries, copied from the base)
# under every name, each with its own entrypoint. One layer, so the archive holds it once.
build() {  # docker build, quiet unless it fails (the legacy builder's deprecation notice included)
    if ! docker build -q "$@" >"$WORK/build.log" 2>&1; then cat "$WORK/build.log" >&2; exit 1; fi
}

tools_root() {
    local root="$WORK/tools/root" lib
    mkdir -p "$root/usr/local/bin" "$root/usr/sbin" "$root/bin" "$root/etc" "$root/tmp" "$root/run"
    chmod 1777 "$root/tmp"
    cp "$CLUSTER_CACHE/bin/kube" "$root/usr/local/bin/kube"
    for link in kube-apiserver kube-controller-manager kube-scheduler kube-proxy etcd; do
        ln -s kube "$root/usr/local/bin/$link"
    done
    cp "$COREDNS" "$root/coredns"
    tar -xOf "$CLUSTER_CACHE/pause.tar" --wildcards '*/layer.tar' | tar -x -C "$root" pause
    cp "$ROOTFS/bin/busybox" "$root/bin/busybox"
    # kube-proxy runs iptables (nf_tables, as Debian 12 and this machine's Docker do).
    cp "$ROOTFS/usr/sbin/xtables-nft-multi" "$root/usr/sbin/"
    for tool in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
        ln -sfn xtables-nft-multi "$root/usr/sbin/$tool"
    done
    mkdir -p "$root/usr/lib/x86_64-linux-gnu"
    cp -a "$ROOTFS/usr/lib/x86_64-linux-gnu/xtables" "$root/usr/lib/x86_64-linux-gnu/"
    for lib in $(chroot "$ROOTFS" sh -c 'ldd /usr/sbin/xtables-nft-multi /usr/lib/x86_64-linux-gnu/xtables/*.so' \
                 | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' | sort -u); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$ROOTFS$lib" "$root$lib"
    done
    cp "$ROOTFS/etc/protocols" "$ROOTFS/etc/services" "$ROOTFS/etc/ethertypes" "$root/etc/" 2>/dev/null || true
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

tools_images() {
    tools_root
    local tools="devstack.test/kind-tools:1"
    printf 'FROM scratch\nCOPY root/ /\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' \
        >"$WORK/tools/Dockerfile"
    build -t "$tools" "$WORK/tools"
    IMAGES="$tools"
    named() {  # named IMAGE ENTRYPOINT-JSON: the tools image under another name, with its own entrypoint
        printf 'FROM %s\nENTRYPOINT %s\n' "$tools" "$2" | build -t "$1" -
        IMAGES="$IMAGES $1"
    }
    for component in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
        named "registry.k8s.io/$component:$K8S_VERSION" "[\"/usr/local/bin/$component\"]"
    done
    named "registry.k8s.io/etcd:$ETCD_TAG" '["/usr/local/bin/etcd"]'
    named "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" '["/coredns"]'
    named "registry.k8s.io/pause:$PAUSE_TAG" '["/pause"]'
    mkdir -p "$WORK/node/root/kind/images"
    # shellcheck disable=SC2086
    docker save -o "$WORK/node/root/kind/images/images.tar" $IMAGES
    # shellcheck disable=SC2086
    docker rmi $IMAGES >/dev/null  # they live on in the node image's archive only
}

node_image() {
    local node="$WORK/node/root"
    mkdir -p "$node/usr/local/bin" "$node/opt/cni/bin" "$node/etc/containerd" "$node/etc/systemd/system" \
        "$node/etc/default" "$node/etc/kubernetes/kubelet.conf.d" "$node/etc/cni/net.d"
    cp "$CLUSTER_CACHE/bin/kube" "$node/usr/local/bin/kube"
    for link in kubelet kubeadm kubectl; do ln -s kube "$node/usr/local/bin/$link"; done
    cp "$CLUSTER_CACHE"/bin/{containerd,containerd-shim-runc-v2,ctr,runc} "$node/usr/local/bin/"
    cp "$CLUSTER_CACHE"/cni/* "$node/opt/cni/bin/"
    cp -r "$HERE/node/kind" "$node/"
    echo "$K8S_VERSION" >"$node/kind/version"
    cp "$HERE/node/entrypoint" "$node/usr/local/bin/entrypoint"
    cp "$HERE/node/containerd.toml" "$node/etc/containerd/config.toml"
    cp -r "$HERE"/node/systemd/* "$node/etc/systemd/system/"
    cp "$HERE/node/kubelet.default" "$node/etc/default/kubelet"
    cp "$HERE/node/kubelet-cgroup-v1.conf" "$node/etc/kubernetes/kubelet.conf.d/50-cgroup-v1.conf"
    tools_images
    cat >"$WORK/node/Dockerfile" <<DOCKERFILE
FROM $BASE_IMAGE
COPY root/ /
RUN systemctl enable containerd.service node-images.service kubelet.service >/dev/null 2>&1 \\
 && systemctl mask getty@tty1.service console-getty.service systemd-logind.service >/dev/null 2>&1 \\
 && echo "devstack-kind-node" >/etc/hostname
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint"]
DOCKERFILE
    build -t "$NODE_IMAGE" "$WORK/node"
}
say "assembling the node image $NODE_IMAGE"
timed "node image" node_image

# Older node images of ours (inputs that have changed since) go.
for old in $(docker images --format '{{.Repository}}:{{.Tag}}' devstack.test/kind-node); do
    if [ "$old" != "$NODE_IMAGE" ]; then docker rmi "$old" >/dev/null 2>&1 || true; fi
done
say "node image $NODE_IMAGE is built"
echo "$NODE_IMAGE"
