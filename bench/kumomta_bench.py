"""The KumoMTA stack on the test cluster, each number beside a peer or floor measured in the same run (the machine
is shared and noisy: compare ratios): the offline variant (stacks/kumomta/devstack.toml, devstack's stand-ins) or,
with --variant upstream, KumoMTA's own image (upstream.toml), which must be in the local engine (it cannot be
pulled here: stacks/kumomta/README.md says how it was built), with KUMOMTA_STORE_IMAGE naming the store image
(default: the one tests/realkube/test_kumomta_on_cluster.py builds, devstack-test/kumomta-store:redis).

    cold ci         nothing deployed (images already built: other projects on the engine may share them, so the
                    bench never removes them): push, deploy, ready, smoke
                    peer: the same for the demo's Kubernetes profile (stacks/demo/k8s: 2 Deployments)
    warm ci         nothing changed since; peer: the demo's warm ci
    inject          POST 10 recipients to kumod, until the sink counts 10 more; median of N (100)
                    floor: the same message to the same 10 recipients by SMTP straight to the sink (forwarded)
    policy edit     save k8s/policy/init.lua with `devstack up` running → the cycle's "smoke ✓"; median of M
                    floor: `kubectl rollout restart` + `rollout status` of the StatefulSet + the same injection check

Needs the test cluster (`make test-cluster`); its kubeconfig: $DEVSTACK_TEST_KUBECONFIG, else
.devstack/test-cluster/kubeconfig. Usage: python bench/kumomta_bench.py [--injections N] [--edits M]
[--variant offline|upstream].
Bounded in count and time; it talks to 127.0.0.1 only (forwards).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demo import Daemon  # noqa: E402  (bench/demo.py)

CONTEXT = "devstack-test"
RESULTS = {"offline": "kumomta.json", "upstream": "kumomta-upstream.json"}
CONFIGS = {"offline": "devstack.toml", "upstream": "upstream.toml"}
UPSTREAM_IMAGE = "ghcr.io/kumocorp/kumomta:2025.01.29-833f82a8"
STORE_IMAGE = "devstack-test/kumomta-store:redis"
TIMEOUT_S = 600
PORTS = {"KUMOMTA_HTTP_PORT": 18300, "KUMOMTA_TSA_PORT": 18301, "KUMOMTA_SINK_HTTP_PORT": 18302,
         "RELAY_PORT": 18303, "SINK_SMTP_PORT": 18304, "SINK_HTTP_PORT": 18305, "KUMOMTA_ADMIN_PORT": 18307,
         "KUMOMTA_SMTP_PORT": 18308}
SINK_SMTP = 18306  # a forward the bench adds to the sink's SMTP port, for the floor
RECIPIENTS = [f"user{i}@example.test" for i in range(10)]


class Stack:
    """A copy of the repository's stacks under tmp, one devstack project on the test cluster."""

    def __init__(self, root: Path, env: dict[str, str], config: str = "devstack.toml") -> None:
        self.root, self.env, self.options = root, env, ["--kube-context", CONTEXT, "-f", config]

    def devstack(self, *args: str) -> float:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "devstack", *self.options, *args], cwd=self.root,
                              env=self.env, check=False, timeout=TIMEOUT_S, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"devstack {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}"
                               f"{done.stderr[-2000:]}")
        return time.perf_counter() - started

    def kubectl(self, *args: str) -> None:
        subprocess.run(["kubectl", "--context", CONTEXT, "-n", "benchkumo", *args], env=self.env, check=True,
                       timeout=TIMEOUT_S, capture_output=True)


def copy(tmp: Path, env: dict[str, str], variant: str) -> tuple[Stack, Stack]:
    for part in ("stacks/kumomta", "stacks/demo", "sink"):
        shutil.copytree(REPO / part, tmp / part, ignore=shutil.ignore_patterns("__pycache__", ".devstack",
                                                                                "*.egg-info"))
    kumomta = tmp / "stacks" / "kumomta" / CONFIGS[variant]
    text = kumomta.read_text().replace('name = "kumomta"', 'name = "benchkumo"', 1)
    kumomta.write_text(text + f'\n[[forwards]]\nresource = "sink"\nlocal = {SINK_SMTP}\nremote = 2525\n')
    demo = tmp / "stacks" / "demo" / "k8s" / "devstack.toml"
    demo.write_text(demo.read_text().replace('name = "demo"', 'name = "benchkumodemo"', 1))
    return Stack(kumomta.parent, env, kumomta.name), Stack(demo.parent, env)


def timed_ci(stack: Stack) -> tuple[float, float]:
    stack.devstack("down", "--volumes")
    cold = stack.devstack("ci", "--timeout", "500")
    return cold, stack.devstack("ci", "--timeout", "300")


def until_count(count: Callable[[], int], target: int, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while count() < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the sink did not reach {target} recipients within {limit_s:.0f}s")
        time.sleep(0.005)


def delivered(env: dict[str, str], send: Callable[[], None], rounds: int) -> list[float]:
    stats = f"http://127.0.0.1:{env['KUMOMTA_SINK_HTTP_PORT']}/stats"
    with httpx.Client(timeout=10) as client:
        def count() -> int:
            return int(client.get(stats).json()["recipients"])
        times = []
        for _ in range(rounds):
            target = count() + len(RECIPIENTS)
            started = time.perf_counter()
            send()
            until_count(count, target)
            times.append(time.perf_counter() - started)
    return times


def inject_once(env: dict[str, str], key: str) -> Callable[[], None]:
    url = f"http://127.0.0.1:{env['KUMOMTA_HTTP_PORT']}/api/inject/v1"
    payload = {"envelope_sender": "bench@example.test", "recipients": [{"email": r} for r in RECIPIENTS],
               "content": {"subject": "bench", "text_body": "bench", "from": {"email": "bench@example.test"}}}

    def send() -> None:
        answer = httpx.post(url, json=payload, auth=("devstack", key), timeout=30).json()
        assert answer["success_count"] == len(RECIPIENTS), answer
    return send


def smtp_once() -> None:
    message = b"From: bench@example.test\r\nSubject: bench\r\n\r\nbench\r\n"
    with smtplib.SMTP("127.0.0.1", SINK_SMTP, local_hostname="bench", timeout=30) as smtp:
        smtp.sendmail("bench@example.test", RECIPIENTS, message)


def policy_edits(stack: Stack, daemon: Daemon, edits: int, check: Callable[[], object],
                 ) -> tuple[list[float], list[float]]:
    init = stack.root / "k8s" / "policy" / "init.lua"
    ours, floor = [], []
    for n in range(edits):
        mark, started = daemon.mark(), time.perf_counter()
        init.write_text(init.read_text() + f"-- bench edit {n}\n")
        daemon.wait_for(r"smoke ✓", after=mark, timeout=TIMEOUT_S)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        stack.kubectl("rollout", "restart", "statefulset/kumomta")
        stack.kubectl("rollout", "status", "statefulset/kumomta", "--timeout=300s")
        check()  # what the smoke test proves: an injection reaches the sink (through the daemon's forwards)
        floor.append(time.perf_counter() - started)
    return ours, floor


def measure(tmp: Path, injections: int, edits: int, variant: str) -> dict[str, Any]:
    kubeconfig = os.environ.get("DEVSTACK_TEST_KUBECONFIG") or str(REPO / ".devstack/test-cluster/kubeconfig")
    state = tmp / "state"
    env = {**os.environ, "KUBECONFIG": kubeconfig, "NO_COLOR": "1", "XDG_STATE_HOME": str(state),
           **{name: str(port) for name, port in PORTS.items()}}
    if variant == "upstream":
        env.setdefault("KUMOMTA_STORE_IMAGE", STORE_IMAGE)
    kumomta, demo = copy(tmp, env, variant)
    results: dict[str, Any] = {"variant": variant}
    try:
        results["ci"] = {"kumomta": timed_ci(kumomta), "demo": timed_ci(demo)}
        save(results)
        demo.devstack("down", "--volumes")
        key = json.loads((state / "devstack" / "benchkumo" / "secrets.json").read_text())["http-listener-keys"]
        daemon = Daemon(kumomta.root, env, "--timeout", "300", options=kumomta.options)
        try:
            daemon.wait_for("watching for changes", timeout=TIMEOUT_S)
            results["inject"] = {"kumomta": delivered(env, inject_once(env, key), injections),
                                 "smtp": delivered(env, smtp_once, injections)}
            save(results)
            edits_measured = policy_edits(kumomta, daemon, edits, lambda: delivered(env, inject_once(env, key), 1))
            results["edit"] = dict(zip(("devstack", "floor"), edits_measured, strict=True))
        finally:
            daemon.stop()
    finally:
        kumomta.devstack("down", "--volumes")
    return results


def save(results: dict[str, Any]) -> None:
    """After each phase, so that a later failure keeps what was measured."""
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS[results["variant"]]).write_text(json.dumps(results, indent=2))


def readme_tables(results: Path) -> str:
    return "\n\n".join(_table(json.loads((results / name).read_text())) for name in RESULTS.values()
                       if (results / name).is_file())


def _table(data: dict[str, Any]) -> str:
    variant = {"offline": "offline", "upstream": "KumoMTA's image"}[data.get("variant", "offline")]
    (cold, warm), (demo_cold, demo_warm) = data["ci"]["kumomta"], data["ci"]["demo"]
    inject, smtp = (statistics.median(data["inject"][k]) for k in ("kumomta", "smtp"))
    edit, floor = (statistics.median(data["edit"][k]) for k in ("devstack", "floor"))
    return "\n".join([
        f"| measure | KumoMTA stack ({variant}) | peer or floor | ratio |",
        "| --- | --- | --- | --- |",
        f"| cold `ci` (nothing deployed: push, deploy, ready, smoke) | {cold:.1f} s | demo profile {demo_cold:.1f} s | "
        f"{cold / demo_cold:.2f}× |",
        f"| warm `ci` (nothing changed) | {warm:.1f} s | demo profile {demo_warm:.1f} s | {warm / demo_warm:.2f}× |",
        f"| inject → delivered, 10 recipients (median of {len(data['inject']['kumomta'])}) | {inject * 1000:.0f} ms | "
        f"SMTP to the sink {smtp * 1000:.0f} ms | {inject / smtp:.2f}× |",
        f"| policy edit → rolled → smoke ✓ (median of {len(data['edit']['devstack'])}) | {edit:.1f} s | "
        f"rollout restart + status + smoke {floor:.1f} s | {edit / floor:.2f}× |",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--injections", type=int, default=100, choices=range(1, 501), metavar="N")
    parser.add_argument("--edits", type=int, default=3, choices=range(1, 11), metavar="M")
    parser.add_argument("--variant", choices=list(CONFIGS), default="offline")
    args = parser.parse_args()
    if args.variant == "upstream":
        missing = [image for image in (UPSTREAM_IMAGE, os.environ.get("KUMOMTA_STORE_IMAGE", STORE_IMAGE))
                   if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode]
        if missing:
            print(f"not in the local engine: {', '.join(missing)} (see this script's docstring)", file=sys.stderr)
            return 1
    with tempfile.TemporaryDirectory(prefix="devstack-bench-kumomta-") as tmp:
        save(measure(Path(tmp), args.injections, args.edits, args.variant))
    print(readme_tables(REPO / "bench" / "results"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
