"""The test cluster's configuration files, written fresh at every `up` into its state directory: kubeconfigs,
containerd's config (version 3, the format of containerd 2) and its registry hosts, the CNI network, the
kubelet's and kube-proxy's configurations, CoreDNS's Corefile and the registry's config."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """Where things are, and the cluster's addresses (set once in cluster.py)."""

    state: Path
    cache: Path
    node: str
    api_port: int
    registry: str
    pod_cidr: str
    gateway: str
    bridge: str
    pause_image: str
    context: str

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def containerd_socket(self) -> Path:
        return self.state / "containerd/containerd.sock"


def kubeconfig(layout: Layout, path: Path, identity: str) -> None:
    """A kubeconfig for one identity's client certificate (pki.py), context `layout.context`."""
    pk = layout.pki
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": layout.context,
        "clusters": [{"name": layout.context, "cluster": {"server": f"https://127.0.0.1:{layout.api_port}",
                                                          "certificate-authority": str(pk / "ca.crt")}}],
        "users": [{"name": f"{layout.context}-{identity}",
                   "user": {"client-certificate": str(pk / f"{identity}.crt"),
                            "client-key": str(pk / f"{identity}.key")}}],
        "contexts": [{"name": layout.context, "context": {"cluster": layout.context,
                                                          "user": f"{layout.context}-{identity}"}}],
    }, indent=2))
    path.chmod(0o600)


def containerd(layout: Layout) -> None:
    c = layout.state / "containerd"
    hosts = c / "certs.d" / layout.registry
    hosts.mkdir(parents=True, exist_ok=True)
    # The local registry speaks plain HTTP: say so, as kind's registry recipe does for its containerd.
    (hosts / "hosts.toml").write_text(textwrap.dedent(f"""\
        server = "http://{layout.registry}"
        [host."http://{layout.registry}"]
          capabilities = ["pull", "resolve"]
        """))
    (c / "config.toml").write_text(textwrap.dedent(f"""\
        version = 3
        root = "{c / 'root'}"
        state = "{c / 'state'}"
        [grpc]
          address = "{layout.containerd_socket}"
        [ttrpc]
          address = "{layout.containerd_socket}.ttrpc"
        [plugins.'io.containerd.internal.v1.opt']
          path = "{c / 'opt'}"
        [plugins.'io.containerd.image-verifier.v1.bindir']
          bin_dir = "{c / 'image-verifier'}"
        # NRI would listen on /var/run/nri/nri.sock, outside the state directory; no plugin uses it here.
        [plugins.'io.containerd.nri.v1.nri']
          disable = true
        [plugins.'io.containerd.cri.v1.images']
          snapshotter = "overlayfs"
          [plugins.'io.containerd.cri.v1.images'.pinned_images]
            sandbox = "{layout.pause_image}"
          [plugins.'io.containerd.cri.v1.images'.registry]
            config_path = "{c / 'certs.d'}"
        [plugins.'io.containerd.cri.v1.runtime']
          # The sandbox has no CAP_SYS_RESOURCE: without this every pod fails to start.
          restrict_oom_score_adj = true
          netns_mounts_under_state_dir = true
          [plugins.'io.containerd.cri.v1.runtime'.containerd]
            default_runtime_name = "runc"
            [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
              runtime_type = "io.containerd.runc.v2"
              [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
                BinaryName = "{layout.cache / 'bin/runc'}"
          [plugins.'io.containerd.cri.v1.runtime'.cni]
            bin_dirs = ["{layout.cache / 'cni'}"]
            conf_dir = "{layout.state / 'cni/net.d'}"
        [plugins.'io.containerd.grpc.v1.cri']
          stream_server_address = "127.0.0.1"
        """))
    (layout.state / "cni/net.d/10-devstack-test.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "devstack-test",
        "plugins": [
            {"type": "bridge", "bridge": layout.bridge, "isGateway": True, "isDefaultGateway": True,
             "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": layout.pod_cidr, "gateway": layout.gateway}]],
                      "dataDir": str(layout.state / "cni/ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }, indent=2))


def kubelet(layout: Layout) -> None:
    k = layout.state / "kubelet"
    (k / "resolv.conf").write_text("")  # pods get the cluster DNS only, none of the host's search domains
    (k / "config.yaml").write_text(textwrap.dedent(f"""\
        apiVersion: kubelet.config.k8s.io/v1beta1
        kind: KubeletConfiguration
        # This machine has cgroup v1 (no systemd to drive cgroups): kubelets from 1.35 refuse it unless told.
        failCgroupV1: false
        cgroupDriver: cgroupfs
        containerRuntimeEndpoint: unix://{layout.containerd_socket}
        address: 127.0.0.1
        port: 10250
        readOnlyPort: 0
        healthzBindAddress: 127.0.0.1
        authentication:
          anonymous: {{enabled: false}}
          webhook: {{enabled: false}}
          x509: {{clientCAFile: {layout.pki / 'ca.crt'}}}
        authorization: {{mode: AlwaysAllow}}
        clusterDNS: ["{layout.gateway}"]
        clusterDomain: cluster.local
        resolvConf: {k / 'resolv.conf'}
        failSwapOn: false
        hairpinMode: hairpin-veth
        serializeImagePulls: false
        imageGCHighThresholdPercent: 100
        imageGCLowThresholdPercent: 99
        evictionHard: {{"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"}}
        """))


def corefile(layout: Layout, kubeconfig_path: Path) -> Path:
    """CoreDNS on the bridge's gateway: cluster names from the API (Services, EndpointSlices, StatefulSet pods'
    names), every other name NXDOMAIN at once (the machine has no upstream resolver to forward to)."""
    path = layout.state / "dns/Corefile"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(f"""\
        cluster.local:53 {{
            bind {layout.gateway}
            errors
            kubernetes cluster.local {{
                kubeconfig {kubeconfig_path} {layout.context}
                ttl 5
            }}
        }}
        .:53 {{
            bind {layout.gateway}
            errors
            template ANY ANY {{
                rcode NXDOMAIN
            }}
        }}
        """))
    return path


def registry(layout: Layout) -> Path:
    path = layout.state / "registry/config.yml"
    path.write_text(textwrap.dedent(f"""\
        version: 0.1
        log: {{level: warn}}
        storage:
          filesystem: {{rootdirectory: {layout.state / 'registry/data'}}}
          delete: {{enabled: true}}
        http: {{addr: "{layout.registry}"}}
        """))
    return path


def registry_hosting(registry: str) -> str:
    """The KEP-1755 ConfigMap that tells tools (devstack, Tilt) where to push images for this cluster."""
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: local-registry-hosting, namespace: kube-public}}
        data:
          localRegistryHosting.v1: |
            host: "{registry}"
            help: "devstack's test cluster: README, The test cluster"
        """)
