"""The Mailman stack (stacks/mailman) on the test cluster, each number beside a peer or floor measured in the same
run (the machine is shared and noisy: compare ratios).

    cold ci         images present, nothing deployed: deploy, ready, smoke (the mail flow included)
                    peer: the same for the demo's Kubernetes profile (stacks/demo/k8s: 2 Deployments)
    warm ci         nothing changed since; peer: the demo's warm ci
    post            a post by SMTP to exim → Mailman → exim → the member at the sink; median of N (20)
                    floor: the same message by SMTP straight to the sink (forwarded), until it is captured
    config edit     save k8s/config/mailman.cfg with `devstack up` running → the cycle's "smoke ✓"; median of M
                    floor: `kubectl rollout restart` + `rollout status` of mailman-core + `devstack smoke`
    template edit   save web/templates/postorius/index.html with `devstack up` running → the list index through
                    the forward shows it (live update: no build, no new pod); median of M
                    floor: the same save by hand: `kubectl cp` into the web pod + `kubectl exec mailman-web-reload`

Needs the test cluster (`make test-cluster`); its kubeconfig: $DEVSTACK_TEST_KUBECONFIG, else
.devstack/test-cluster/kubeconfig. Usage: python bench/mailman_bench.py [--posts N] [--edits M].
Bounded in count and time; it talks to 127.0.0.1 only (forwards).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demo import Daemon  # noqa: E402  (bench/demo.py)

CONTEXT = "devstack-test"
PROJECT = "benchmailman"
RESULT = "mailman.json"
TIMEOUT_S = 900
PORTS = {"MAILMAN_WEB_PORT": 18400, "MAILMAN_REST_PORT": 18401, "MAILMAN_SMTP_PORT": 18402,
         "MAILMAN_SINK_PORT": 18403, "RELAY_PORT": 18404, "SINK_SMTP_PORT": 18405, "SINK_HTTP_PORT": 18406}
SINK_SMTP = 18407  # a forward the bench adds to the sink's SMTP port, for the floor
MEMBER = "bench-member@example.test"


def devstack(root: Path, env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "devstack", "--kube-context", CONTEXT, "--allow-context", CONTEXT,
                           *args], cwd=root, env=env, timeout=TIMEOUT_S, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"devstack {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


def copy(tmp: Path) -> tuple[Path, Path]:
    for part in ("stacks/mailman", "stacks/demo", "sink"):
        shutil.copytree(REPO / part, tmp / part, ignore=shutil.ignore_patterns("__pycache__", ".devstack",
                                                                                "*.egg-info"))
    mailman = tmp / "stacks" / "mailman" / "devstack.toml"
    text = mailman.read_text().replace('name = "mailman"', f'name = "{PROJECT}"', 1)
    mailman.write_text(text + f'\n[[forwards]]\nresource = "sink"\nlocal = {SINK_SMTP}\nremote = 2525\n')
    demo = tmp / "stacks" / "demo" / "k8s" / "devstack.toml"
    demo.write_text(demo.read_text().replace('name = "demo"', f'name = "{PROJECT}demo"', 1))
    return mailman.parent, demo.parent


def timed_ci(root: Path, env: dict[str, str]) -> tuple[float, float]:
    devstack(root, env, "down", "--volumes")
    cold = devstack(root, env, "ci", "--timeout", "800")
    return cold, devstack(root, env, "ci", "--timeout", "600")


def message(sender: str, to: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, "bench"
    mail["Message-ID"] = f"<bench-{uuid.uuid4().hex}@bench.devstack.test>"
    mail.set_content("bench\n")
    return mail


def until_captured(client: httpx.Client, sink: str, message_id: str, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        records = client.get(f"{sink}/captured").json()["messages"]
        if any([name.lower(), value] == ["message-id", message_id] for r in records for name, value in r["headers"]):
            return
        time.sleep(0.01)
    raise RuntimeError(f"{message_id} not at the sink within {limit_s:.0f}s")


def posts(env: dict[str, str], rest_password: str, rounds: int) -> dict[str, list[float]]:
    rest, sink = f"http://127.0.0.1:{env['MAILMAN_REST_PORT']}/3.1", f"http://127.0.0.1:{env['MAILMAN_SINK_PORT']}"
    listname = f"bench-{uuid.uuid4().hex[:8]}"
    address, list_id = f"{listname}@lists.devstack.test", f"{listname}.lists.devstack.test"
    times: dict[str, list[float]] = {"mailman": [], "sink": []}
    with httpx.Client(timeout=30, auth=("restadmin", rest_password)) as client:
        client.post(f"{rest}/domains", data={"mail_host": "lists.devstack.test"})  # 400 when it exists: fine
        client.post(f"{rest}/lists", data={"fqdn_listname": address}).raise_for_status()
        client.post(f"{rest}/members", data={"list_id": list_id, "subscriber": MEMBER, "pre_verified": "true",
                                             "pre_confirmed": "true", "pre_approved": "true",
                                             "send_welcome_message": "false"}).raise_for_status()
        for port, to, key in ((int(env["MAILMAN_SMTP_PORT"]), address, "mailman"), (SINK_SMTP, MEMBER, "sink")):
            for _ in range(rounds):
                mail = message(MEMBER, to)
                started = time.perf_counter()
                with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                    smtp.send_message(mail)
                until_captured(client, sink, str(mail["Message-ID"]))
                times[key].append(time.perf_counter() - started)
        client.delete(f"{rest}/lists/{list_id}")
    return times


def config_edits(root: Path, daemon: Daemon, edits: int) -> list[float]:
    """mailman.cfg saved with `devstack up` running, until the cycle's smoke tests are green."""
    config = root / "k8s" / "config" / "mailman.cfg"
    times = []
    for n in range(edits):
        mark, started = daemon.mark(), time.perf_counter()
        config.write_text(config.read_text() + f"# bench edit {n}\n")
        daemon.wait_for(r"smoke ✓", after=mark, timeout=TIMEOUT_S)
        times.append(time.perf_counter() - started)
    return times


def template_edits(root: Path, env: dict[str, str], edits: int, daemon: Daemon | None = None,
                   copy_in: Callable[[Path], None] | None = None) -> list[float]:
    """A Postorius template override saved, until the list index through the forward shows it: with `devstack up`
    running (`daemon`: its live update), or copied in and reloaded by `copy_in` (the floor). Under the daemon,
    the next save waits (untimed) for the cycle's smoke tests, as the floor's next save waits for its reload."""
    template = root / "web" / "templates" / "postorius" / "index.html"
    page = f"http://127.0.0.1:{env['MAILMAN_WEB_PORT']}/postorius/lists/"
    times = []
    # A connection per request: uwsgi closes each after its answer, and a client sees that close a second late
    # through any Kubernetes port-forward (the runtime's wait); a pooled connection reused meanwhile would fail.
    with httpx.Client(timeout=30, headers={"Connection": "close"}) as client:
        for _ in range(edits):
            mark = f"bench-{uuid.uuid4().hex[:12]}"
            line = daemon.mark() if daemon else 0
            started = time.perf_counter()
            template.write_text(template.read_text().replace("{% dev_notice %}", f"{{% dev_notice %}} {mark}", 1))
            if copy_in is not None:
                copy_in(template)
            deadline = time.monotonic() + 120
            while mark not in client.get(page).text:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the list index did not show the saved template within 120s ({mark})")
                time.sleep(0.05)
            times.append(time.perf_counter() - started)
            if daemon:
                daemon.wait_for(r"smoke [✓✗]", after=line, timeout=TIMEOUT_S)
    return times


def copy_by_hand(env: dict[str, str]) -> Callable[[Path], None]:
    """The floor of a template edit: what a user types to copy the file into the web pod and reload its workers
    (the page is read through `kubectl port-forward`, started by the caller)."""
    kubectl = ["kubectl", "--context", CONTEXT, "-n", PROJECT]
    pod = subprocess.run([*kubectl, "get", "pods", "-l", "dev.devstack.resource=mailman-web", "-o",
                          "jsonpath={.items[0].metadata.name}"], env=env, check=True, timeout=60, capture_output=True,
                         text=True).stdout.strip()

    def copy_in(template: Path) -> None:
        for args in (["cp", str(template), f"{pod}:/opt/mailman-site/templates/postorius/index.html"],
                     ["exec", pod, "--", "mailman-web-reload"]):
            subprocess.run([*kubectl, *args], env=env, check=True, timeout=TIMEOUT_S, capture_output=True)

    return copy_in


def listening(port: int, limit_s: float = 30) -> None:
    """Wait until 127.0.0.1:port accepts a connection (kubectl port-forward, just started)."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {limit_s:.0f}s") from None
            time.sleep(0.1)


def restarts_by_hand(root: Path, env: dict[str, str], edits: int) -> list[float]:
    """The floor, with no daemon running: what a user types to roll core and check the flow again."""
    times = []
    kubectl = ["kubectl", "--context", CONTEXT, "-n", PROJECT]
    for _ in range(edits):
        started = time.perf_counter()
        for args in (["rollout", "restart", "deployment/mailman-core"],
                     ["rollout", "status", "deployment/mailman-core", "--timeout=600s"]):
            subprocess.run(kubectl + args, env=env, check=True, timeout=TIMEOUT_S, capture_output=True)
        devstack(root, env, "smoke")
        times.append(time.perf_counter() - started)
    return times


def measure(tmp: Path, rounds: int, edits: int) -> dict[str, Any]:
    kubeconfig = os.environ.get("DEVSTACK_TEST_KUBECONFIG") or str(REPO / ".devstack/test-cluster/kubeconfig")
    state = tmp / "state"
    env = {**os.environ, "KUBECONFIG": kubeconfig, "NO_COLOR": "1", "XDG_STATE_HOME": str(state),
           **{name: str(port) for name, port in PORTS.items()}}
    mailman, demo = copy(tmp)
    results: dict[str, Any] = {}
    try:
        results["ci"] = {"mailman": timed_ci(mailman, env), "demo": timed_ci(demo, env)}
        devstack(demo, env, "down", "--volumes", "--images")
        password = json.loads((state / "devstack" / PROJECT / "secrets.json").read_text())["mailman-rest-password"]
        daemon = Daemon(mailman, env, "--timeout", "800",
                        options=["--kube-context", CONTEXT, "--allow-context", CONTEXT])
        try:
            daemon.wait_for("watching for changes", timeout=TIMEOUT_S)
            results["post"] = posts(env, password, rounds)
            results["edit"] = {"devstack": config_edits(mailman, daemon, edits)}
            results["template"] = {"devstack": template_edits(mailman, env, edits, daemon)}
        finally:
            daemon.stop()
        results["edit"]["floor"] = restarts_by_hand(mailman, env, edits)
        forward = subprocess.Popen(["kubectl", "--context", CONTEXT, "-n", PROJECT, "port-forward", "--address",
                                    "127.0.0.1", "deployment/mailman-web", f"{env['MAILMAN_WEB_PORT']}:8000"],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            listening(int(env["MAILMAN_WEB_PORT"]))
            results["template"]["floor"] = template_edits(mailman, env, edits, copy_in=copy_by_hand(env))
        finally:
            forward.terminate()
            forward.wait(timeout=30)
    finally:
        devstack(mailman, env, "down", "--volumes", "--images")
    return results


# The numbers in docs/benchmarks.md (a run on the 2-core development machine, nothing else running).
EXAMPLE_RESULTS: dict[str, Any] = json.loads(
    '{"mailman.json": {"ci": {"mailman": [27.679, 3.248], "demo": [5.613, 1.153]}, "post": {"mailman": [0'
    '.467, 0.644, 0.557, 0.359, 0.412, 0.765, 0.824, 0.815, 0.912, 0.782, 0.786, 0.654, 0.763, 0.77, 0.67'
    '5, 0.943, 0.892, 0.627, 0.835, 0.772], "sink": [0.075, 0.068, 0.026, 0.051, 0.112, 0.033, 0.129, 0.0'
    '79, 0.035, 0.051, 0.072, 0.05, 0.049, 0.028, 0.045, 0.035, 0.036, 0.028, 0.065, 0.035]}, "edit": {"d'
    'evstack": [16.851, 14.818, 15.407], "floor": [17.337, 16.252, 18.271]}, "template": {"devstack": [0.'
    '404, 2.501, 2.43], "floor": [4.73, 3.973, 3.77]}}}')


def readme_tables(results: Path) -> str:
    data = json.loads((results / RESULT).read_text())
    (cold, warm), (demo_cold, demo_warm) = data["ci"]["mailman"], data["ci"]["demo"]
    post, floor_post = (statistics.median(data["post"][k]) for k in ("mailman", "sink"))
    edit, floor_edit = (statistics.median(data["edit"][k]) for k in ("devstack", "floor"))
    template, floor_template = (statistics.median(data["template"][k]) for k in ("devstack", "floor"))
    return "\n".join([
        "| measure | Mailman stack | peer or floor | ratio |",
        "| --- | --- | --- | --- |",
        f"| cold `ci` (images present: deploy, ready, smoke) | {cold:.1f} s | demo profile {demo_cold:.1f} s | "
        f"{cold / demo_cold:.2f}× |",
        f"| warm `ci` (nothing changed) | {warm:.1f} s | demo profile {demo_warm:.1f} s | {warm / demo_warm:.2f}× |",
        f"| post → delivered to the member (median of {len(data['post']['mailman'])}) | {post * 1000:.0f} ms | "
        f"SMTP straight to the sink {floor_post * 1000:.0f} ms | {post / floor_post:.1f}× |",
        f"| mailman.cfg edit → core rolled → smoke ✓ (median of {len(data['edit']['devstack'])}) | {edit:.1f} s | "
        f"rollout restart + status + smoke {floor_edit:.1f} s | {edit / floor_edit:.2f}× |",
        f"| Postorius template saved → shown through the forward, live update (median of "
        f"{len(data['template']['devstack'])}) | {template:.1f} s | kubectl cp + exec mailman-web-reload "
        f"{floor_template:.1f} s | {template / floor_template:.2f}× |",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20, choices=range(1, 101), metavar="N")
    parser.add_argument("--edits", type=int, default=3, choices=range(1, 11), metavar="M")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="devstack-bench-mailman-") as tmp:
        results = measure(Path(tmp), args.posts, args.edits)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULT).write_text(json.dumps(results, indent=2))
    print(readme_tables(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
