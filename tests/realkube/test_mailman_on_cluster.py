"""The Mailman stack (stacks/mailman) on the real test cluster, as a user runs it: `devstack ci` green with the
mail-flow smoke test (a post through exim and Mailman delivered to a member at the sink, and archived by
HyperKitty); an edit of mailman.cfg rolls mailman-core and nothing else; under `devstack up`, a saved Postorius
template or Python file of the web app is live in the same web pod, with no build; `down` leaves only the volumes,
every container having stopped by itself, and `down --volumes` nothing; no secret value in any output.

One deployment serves the module's tests, which run in order (each is a step of a user's session)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import Daemon
from tests.integration.conftest import base_image, free_port
from tests.realkube.conftest import CREATED, TestCluster, labelled

REPO = Path(__file__).resolve().parents[2]
WORKLOADS = ("postgres", "mailman-core", "mailman-web", "exim", "sink")
PORT_VARIABLES = ("MAILMAN_WEB_PORT", "MAILMAN_REST_PORT", "MAILMAN_SMTP_PORT", "MAILMAN_SINK_PORT")


@dataclass
class Mailman:
    root: Path
    name: str
    cluster: TestCluster
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)  # everything devstack printed, for the secrets check

    def devstack(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        context = self.cluster.context
        result = subprocess.run([sys.executable, "-m", "devstack", "--kube-context", context, "--allow-context",
                                 context, *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                                timeout=timeout, check=False)
        self.outputs.append(result.stdout + result.stderr)
        return result

    def workloads(self) -> dict[str, dict[str, Any]]:
        """name → {generation, template hash, pod uids} of every workload of the project."""
        found = self.cluster.get("deployments,statefulsets", "-n", self.name)["items"]
        pods = self.cluster.get("pods", "-n", self.name)["items"]
        return {w["metadata"]["name"]: {
            "generation": w["metadata"]["generation"],
            "pods": sorted(p["metadata"]["uid"] for p in pods if not p["metadata"].get("deletionTimestamp")
                           and p["metadata"]["labels"].get("dev.devstack.resource") == w["metadata"]["name"])}
            for w in found}

    def labelled(self) -> list[str]:
        return labelled(self.cluster, self.name)

    def settled(self, wanted: Callable[[list[str]], bool], timeout_s: float = 120) -> list[str]:
        """What is still labelled once `wanted` holds: pods and namespaces take their grace period to go."""
        deadline = time.monotonic() + timeout_s
        while not wanted(left := self.labelled()) and time.monotonic() < deadline:
            time.sleep(1)
        return left

    def secrets(self) -> dict[str, str]:
        store = Path(self.env["XDG_STATE_HOME"]) / "devstack" / self.name / "secrets.json"
        return dict(json.loads(store.read_text()))


@pytest.fixture(scope="module")
def mailman(tmp_path_factory: pytest.TempPathFactory, test_cluster: TestCluster) -> Iterator[Mailman]:
    """A copy of stacks/mailman (with the sink beside it, as in the repository) under its own project name."""
    tmp = tmp_path_factory.mktemp("mailman")
    shutil.copytree(REPO / "stacks" / "mailman", tmp / "stacks" / "mailman")
    shutil.copytree(REPO / "sink", tmp / "sink", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    name = f"mm{uuid.uuid4().hex[:8]}"
    CREATED.append(name)  # the session checks that nothing of it is left on the cluster
    config = tmp / "stacks" / "mailman" / "devstack.toml"
    config.write_text(config.read_text().replace('name = "mailman"', f'name = "{name}"', 1))
    env = {**os.environ, "KUBECONFIG": str(test_cluster.kubeconfig), "NO_COLOR": "1",
           "XDG_STATE_HOME": str(tmp / "state"), **{variable: str(free_port()) for variable in PORT_VARIABLES}}
    if base_image():
        env["DEVSTACK_BASE_IMAGE"] = base_image() or ""
    project = Mailman(config.parent, name, test_cluster, env)
    yield project
    result = project.devstack("down", "--volumes", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.settled(lambda left: not left) == []


def test_ci_is_green_with_the_mail_flow(mailman: Mailman) -> None:
    result = mailman.devstack("ci", "--timeout", "800")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    flow = re.search(r"mail-flow \(mailman-flow\): post to devstack-smoke@lists\.devstack\.test delivered to "
                     r"member@example\.test at the sink, archived by HyperKitty · domain \d+ms · list \d+ms · "
                     r"member \d+ms · post \d+ms · delivered \d+ms · archived \d+ms", result.stdout)
    assert flow, result.stdout[-4000:]
    assert re.search(r"exim-smtp \(smtp\): 127\.0\.0\.1:\d+ banner ok", result.stdout), result.stdout[-4000:]
    assert set(mailman.workloads()) == set(WORKLOADS)
    for args in (("status",), ("logs", "--tail", "300")):  # more output for the secrets check at the end
        assert mailman.devstack(*args).returncode == 0


def test_cold_ci_started_core_and_web_after_postgres_with_no_restart(mailman: Mailman) -> None:
    """depends_on: the first ci (the test above) held core and web back until postgres was ready."""
    first = mailman.outputs[0]
    assert "mailman-core waiting on postgres" in first and "mailman-web waiting on postgres" in first
    pods = mailman.cluster.get("pods", "-n", mailman.name)["items"]
    restarts = {p["metadata"]["labels"].get("dev.devstack.resource"): sum(
        s.get("restartCount", 0) for s in p["status"].get("containerStatuses", [])) for p in pods}
    assert restarts.get("mailman-core") == 0 and restarts.get("mailman-web") == 0, restarts


def _in_pod(mailman: Mailman, workload: str, python: str) -> str:
    return mailman.cluster.kubectl("exec", "-n", mailman.name, f"deploy/{workload}", "--", "python3", "-c", python)


def test_smoke_runs_leave_one_list_and_the_site_carries_the_domain(mailman: Mailman) -> None:
    """Papercuts: every smoke run posts to the one list devstack-smoke (no smoke-… archive per run in HyperKitty),
    and the Django site is the stack's list domain, not example.com."""
    for _ in range(2):
        result = mailman.devstack("smoke", "mail-flow")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    lists = json.loads(_in_pod(mailman, "mailman-web", "import urllib.request as u; print(u.urlopen("
                                                     "'http://127.0.0.1:8000/hyperkitty/api/lists/').read().decode())"))
    names = [entry["name"] for entry in (lists["results"] if isinstance(lists, dict) else lists)]
    assert [n for n in names if "smoke" in n] == ["devstack-smoke@lists.devstack.test"], names
    domain = mailman.cluster.kubectl(
        "exec", "-n", mailman.name, "deploy/mailman-web", "--", "setpriv", "--reuid=www-data", "--regid=www-data",
        "--init-groups", "python3", "/usr/share/mailman3-web/manage.py", "shell", "-c",
        "from django.contrib.sites.models import Site; print(Site.objects.get(id=1).domain)")
    assert domain.strip().splitlines()[-1] == "lists.devstack.test"


def test_post_test_message_command(mailman: Mailman) -> None:
    result = mailman.devstack("run", "post-test-message")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"mailman-core\s+│ posted <devstack-test-\w+@lists\.devstack\.test> to dev@lists\.devstack\.test",
                     result.stdout), result.stdout


def test_a_mailman_cfg_edit_rolls_core_and_only_core(mailman: Mailman) -> None:
    before = mailman.workloads()
    config = mailman.root / "k8s" / "config" / "mailman.cfg"
    config.write_text(config.read_text().replace("[logging.smtp]\nlevel: info", "[logging.smtp]\nlevel: debug"))
    result = mailman.devstack("ci", "--timeout", "600")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "mail-flow (mailman-flow): post to" in result.stdout
    after = mailman.workloads()
    changed = {name for name in WORKLOADS if after[name] != before[name]}
    assert changed == {"mailman-core"}, {name: (before[name], after[name]) for name in WORKLOADS}
    assert after["mailman-core"]["generation"] == before["mailman-core"]["generation"] + 1


def fetch(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return str(response.read().decode())


def shows(port: int, path: str, text: str, timeout_s: float = 60) -> float:
    """Seconds until the page at `path` shows `text` (AssertionError past the timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        with contextlib.suppress(OSError):
            if text in fetch(port, path):
                return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"{path} did not show {text!r} within {timeout_s:.0f}s")


def web_pod(mailman: Mailman) -> tuple[str, str, int, str]:
    """The one mailman-web pod: name, uid, restarts and image."""
    (pod,) = [p for p in mailman.cluster.get("pods", "-n", mailman.name, "-l",
                                             "dev.devstack.resource=mailman-web")["items"]
              if not p["metadata"].get("deletionTimestamp")]
    (status,) = pod["status"]["containerStatuses"]
    return pod["metadata"]["name"], pod["metadata"]["uid"], status["restartCount"], status["image"]


def test_a_saved_template_or_python_file_is_live_in_the_same_web_pod(mailman: Mailman) -> None:
    port, context = int(mailman.env["MAILMAN_WEB_PORT"]), mailman.cluster.context
    daemon = Daemon(mailman.root, mailman.env, "--timeout", "600", options=("--kube-context", context,
                                                                           "--allow-context", context))
    try:
        daemon.wait_for("watching for changes", timeout=600)
        before, pod = mailman.workloads(), web_pod(mailman)
        assert 'id="dev-notice">A development stack' in fetch(port, "/postorius/lists/")

        # A Postorius template override: the cached template loader forgets it when the workers reload.
        template = mailman.root / "web" / "templates" / "postorius" / "index.html"
        mark, token = daemon.mark(), uuid.uuid4().hex[:10]
        template.write_text(template.read_text().replace("{% dev_notice %}", f"{{% dev_notice %}} (template {token})"))
        seconds = shows(port, "/postorius/lists/", f"(template {token})")
        daemon.wait_for(r"mailman-web .*1 file changed → synced to 1 container\(s\)", after=mark)
        print(f"template saved → visible through the forward: {seconds:.1f}s")

        # A Python file of the site's app: new workers import it afresh.
        views = mailman.root / "web" / "mailman_site" / "views.py"
        mark, token = daemon.mark(), uuid.uuid4().hex[:10]
        views.write_text(views.read_text().replace('"list_domain": settings.EMAILNAME,',
                                                   f'"list_domain": settings.EMAILNAME, "edit": "{token}",'))
        seconds = shows(port, "/site/about.json", f'"edit": "{token}"')
        line = daemon.wait_for(r"mailman-web .*1 file changed → synced to 1 container\(s\)", after=mark)
        print(f"views.py saved → visible through the forward: {seconds:.1f}s ({line.strip()})")

        # A save with an error fails the live update at once, pointing at the pod's log; the pod stays, and the
        # next save is live again.
        good, mark = views.read_text(), daemon.mark()
        views.write_text(good + "\n\ndef broken(:\n")
        daemon.wait_for(r"mailman-web .*1 file changed → live update failed", after=mark)
        assert any("fix the file and save it again" in line for line in daemon.lines[mark:]), daemon.lines[mark:]
        views.write_text(good.replace(f'"edit": "{token}"', '"edit": "fixed"'))
        shows(port, "/site/about.json", '"edit": "fixed"')
    finally:
        stopped = daemon.stop()
    assert stopped in (0, 130), "\n".join(daemon.lines[-40:])
    # The same pod, never restarted, running the same image; no build, and no other workload touched.
    assert web_pod(mailman) == pod
    assert mailman.workloads() == before
    assert not [line for line in daemon.lines if re.search(r"\bbuilt [\d.]+s|updated [\d.]+s", line)], daemon.lines


@contextlib.contextmanager
def exits(mailman: Mailman) -> Iterator[dict[str, int]]:
    """workload → the exit code of its container as its pod stops, from a watch of the project's pods (filled when
    the block ends). The watch writes to a file: a pipe left unread would stall it at 64 KiB."""
    found: dict[str, int] = {}
    with tempfile.TemporaryFile("w+") as output:
        watch = subprocess.Popen(["kubectl", f"--kubeconfig={mailman.cluster.kubeconfig}",
                                  f"--context={mailman.cluster.context}", "get", "pods", "-n", mailman.name,
                                  "--watch", "-o", "json"], stdout=output, stderr=subprocess.DEVNULL)
        try:
            yield found
        finally:
            watch.terminate()
            watch.wait(timeout=30)
        output.seek(0)
        stream, decoder, at = output.read().strip(), json.JSONDecoder(), 0
    while at < len(stream):
        try:
            pod, at = decoder.raw_decode(stream, at)
        except json.JSONDecodeError:
            break  # the last object, cut by the terminate: the pods were gone long before
        at = len(stream) - len(stream[at:].lstrip())
        for status in pod["status"].get("containerStatuses", []):
            if "terminated" in status["state"]:
                found[pod["metadata"]["labels"]["dev.devstack.resource"]] = status["state"]["terminated"]["exitCode"]


def test_down_keeps_only_the_volumes_unless_asked(mailman: Mailman) -> None:
    with exits(mailman) as exit_codes:
        result = mailman.devstack("down", timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        kept = [f"namespace/{mailman.name}", "persistentvolumeclaim/mailman-var",
                "persistentvolumeclaim/postgres-data"]
        assert sorted(mailman.settled(lambda left: sorted(left) == kept)) == kept  # the claims, and their namespace
    # Every container ended by itself on SIGTERM, none killed at the end of its grace period (137): a rollout of
    # any of them does not sit out that period (mailman-core's did, 15 s, while its log tail kept its master).
    assert sorted(exit_codes) == sorted(WORKLOADS), exit_codes
    assert {name: code for name, code in exit_codes.items() if code == 137} == {}
    result = mailman.devstack("down", "--volumes", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert mailman.settled(lambda left: not left) == []


def test_no_secret_value_was_ever_printed(mailman: Mailman) -> None:
    values = mailman.secrets()
    assert set(values) == {"mailman-rest-password", "hyperkitty-api-key", "django-secret-key", "postgres-password"}
    printed = "\n".join(mailman.outputs)
    assert len(mailman.outputs) >= 4 and "mail-flow" in printed
    assert [name for name, value in values.items() if value in printed] == []
