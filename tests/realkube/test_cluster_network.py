"""The test cluster's network as stacks rely on it: pods find a Service by its short name, reach another pod
directly by a StatefulSet's per-pod DNS name (what KumoMTA's TSA publishing uses), and get volumes."""

from __future__ import annotations

from tests.realkube.conftest import AppProject

PEERS = """\
apiVersion: v1
kind: Service
metadata: {name: peers}
spec:
  clusterIP: None
  selector: {app: peers}
  ports: [{name: echo, port: 7000}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: peers}
spec:
  serviceName: peers
  replicas: 2
  selector: {matchLabels: {app: peers}}
  template:
    metadata: {labels: {app: peers}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: app
          command: ["python3", "-c", "import socket, os\\ns = socket.create_server(('', 7000))\\nwhile True:\\n
            c, _ = s.accept(); c.sendall(os.environ['HOSTNAME'].encode()); c.close()"]
          readinessProbe: {tcpSocket: {port: 7000}, periodSeconds: 1}
"""

ASK = "import socket, sys; print(socket.create_connection((sys.argv[1], 7000), timeout=5).recv(100).decode())"


def test_pods_reach_each_other_by_per_pod_names_and_services(app_project: AppProject) -> None:
    app_project.workloads()
    (app_project.root / "k8s" / "peers.yaml").write_text(PEERS)
    result = app_project.ci()
    assert result.returncode == 0, result.stdout + result.stderr

    def ask(target: str) -> str:
        return app_project.cluster.kubectl("exec", "-n", app_project.name, "peers-0", "--", "python3", "-c", ASK,
                                       target).strip()

    # Pod to pod, by the per-pod name of a headless Service, short and fully qualified.
    assert ask("peers-1.peers") == "peers-1"
    assert ask(f"peers-1.peers.{app_project.name}.svc.cluster.local") == "peers-1"
    # The headless Service's own name answers with a ready pod.
    assert ask("peers") in ("peers-0", "peers-1")
