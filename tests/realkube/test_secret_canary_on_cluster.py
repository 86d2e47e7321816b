"""A canary dev secret, printed by a pod on the test cluster on purpose: its value never appears in anything
devstack outputs (ci, logs, logs --json, status, the daemon's output, a recording, the dashboard's API and its
event stream, a readiness error's log lines), and each of those that shows the pod's line shows `[redacted]`
where the pod printed the value, so the check cannot pass by printing nothing. The swarm variant is
tests/integration/test_secret_canary.py."""

from __future__ import annotations

import json
import re
import time
import urllib.request

from tests.daemon import Daemon
from tests.integration.conftest import free_port
from tests.realkube.conftest import KubeProject

SECRET = "canary-secret"
CANARY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: canary
spec:
  replicas: 1
  selector:
    matchLabels: {{app: canary}}
  template:
    metadata:
      labels: {{app: canary}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: canary
          image: relay
          command: ["python3", "-c", "import os, time; print('canary=' + os.environ['CANARY'], flush=True); {then}"]
          env:
            - name: CANARY
              valueFrom:
                secretKeyRef: {{name: {secret}, key: value}}
          resources:
            requests: {{cpu: 5m, memory: 16Mi}}
            limits: {{memory: 64Mi}}
"""


def with_canary(project: KubeProject, then: str) -> None:
    """A Deployment `canary` on the relay's image that prints the dev secret it is given, then runs `then`."""
    (project.root / "canary.yaml").write_text(CANARY.format(then=then, secret=SECRET))
    config = project.root / "devstack.toml"
    text = config.read_text().replace('manifests = ["relay.yaml", "sink.yaml"]',
                                      'manifests = ["relay.yaml", "sink.yaml", "canary.yaml"]', 1)
    config.write_text(text + f'\n[secrets.{SECRET}]\nlength = 24\nkey = "value"\n')


def dashboard(url: str, path: str, *, stream_s: float = 0.0) -> str:
    """What the dashboard answers at `path` (the bearer token of its printed URL); for its event stream, what
    came within `stream_s`."""
    base, token = url.split("/?token=", 1)
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    if not stream_s:
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(response.read().decode())
    received, deadline = b"", time.monotonic() + stream_s
    with urllib.request.urlopen(request, timeout=stream_s) as response:
        try:  # the stream goes on for as long as the page is open: what it sent within stream_s
            while time.monotonic() < deadline and (chunk := response.read1(65536)):
                received += chunk
        except TimeoutError:
            pass  # nothing more came within stream_s
    return received.decode()


def test_the_canary_never_appears_in_what_devstack_prints(kube_demo: KubeProject) -> None:
    with_canary(kube_demo, "time.sleep(3600)")
    ci = kube_demo.devstack("ci", "--timeout", "400")
    assert ci.returncode == 0, ci.stdout + ci.stderr
    value = kube_demo.secret(SECRET)
    outputs = {"ci": ci.stdout + ci.stderr}
    logs = kube_demo.devstack("logs", "canary")
    assert "canary=[redacted]" in logs.stdout, logs.stdout + logs.stderr
    as_json = kube_demo.devstack("logs", "--json", "canary")
    assert any(json.loads(line)["text"] == "canary=[redacted]" for line in as_json.stdout.splitlines()), as_json
    status = kube_demo.devstack("status", "--json")
    assert status.returncode == 0 and "canary" in status.stdout, status.stdout + status.stderr
    outputs |= {"logs": logs.stdout + logs.stderr, "logs --json": as_json.stdout + as_json.stderr,
                "status": status.stdout + status.stderr}

    recording = kube_demo.root / "session.cast"
    daemon = Daemon(kube_demo.root, kube_demo.env, "--timeout", "400", "--record", str(recording),
                    "--web-port", str(free_port()), options=kube_demo.global_options())
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/\?token=\S+", daemon.wait_for(r"dashboard: http://", timeout=400))
        assert url is not None
        daemon.wait_for("watching for changes", timeout=400)
        trigger = kube_demo.devstack("trigger", "canary")  # restarted: the new pod prints the canary again
        assert trigger.returncode == 0, trigger.stdout + trigger.stderr
        daemon.wait_for(r"canary\s+│ canary=\[redacted\]", timeout=180)  # the followed log line, scrubbed
        up_status = kube_demo.devstack("status", "--json")  # answered by the running daemon's control API
        web_logs = dashboard(url.group(0), "/api/logs?resource=canary")
        assert "canary=[redacted]" in web_logs, web_logs
        web = {"dashboard /api/logs": web_logs, "dashboard /api/state": dashboard(url.group(0), "/api/state"),
               "dashboard /api/stream": dashboard(url.group(0), "/api/stream", stream_s=3.0)}
        assert "canary=[redacted]" in web["dashboard /api/stream"]
    finally:
        assert daemon.stop() in (0, 130), "\n".join(daemon.lines[-40:])
    outputs |= {"up": "\n".join(daemon.lines), "status (daemon)": up_status.stdout + up_status.stderr,
                "trigger": trigger.stdout + trigger.stderr, "recording": recording.read_text(), **web}
    assert "canary=[redacted]" in outputs["recording"]
    for name, text in outputs.items():
        assert value not in text, f"the canary's value appears in {name}"


def test_a_readiness_error_shows_the_crashed_pods_lines_scrubbed(kube_demo: KubeProject) -> None:
    with_canary(kube_demo, "raise SystemExit(3)")
    result = kube_demo.devstack("ci", "--timeout", "300")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "canary: not ready" in result.stderr and "CrashLoopBackOff" in result.stderr, result.stderr
    assert "canary=[redacted]" in result.stderr  # the last log lines of the crashed container
    assert kube_demo.secret(SECRET) not in result.stdout + result.stderr
