"""The demo's inner loop on the real test cluster (`make test-cluster`, context devstack-test): save → smoke green.

    rebuild   save relay.py with live update off → the cycle line with "smoke ✓" (build, push to the local
              registry, rollout, ready, smoke); median of N edits
    floor     the same work by hand, in the same run: `docker build`, `docker push`, `kubectl set image`,
              `kubectl rollout status`, then the same smoke tests through a fresh `kubectl port-forward`
    live      save relay.py with live update on → "synced … smoke ✓" (exec + tar, SIGHUP); median of N edits

Usage: python bench/k8s_loop_bench.py [--edits N]. Bounded in count and time; 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import demo  # noqa: E402  (bench/demo.py, beside this script)

from devstack.config import loader  # noqa: E402
from devstack.smoke import runner  # noqa: E402

CONTEXT, REGISTRY = "devstack-test", "127.0.0.1:5001"
OPTIONS = ("--kube-context", CONTEXT)
KUBECONFIG = REPO / ".devstack" / "test-cluster" / "kubeconfig"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def copy_demo(tmp: Path, name: str, live: bool) -> tuple[Path, dict[str, str]]:
    """The demo's Kubernetes profile under `tmp`, laid out as in the repository, with its own name and ports."""
    repo = tmp / name
    shutil.copytree(REPO / "stacks" / "demo", repo / "stacks" / "demo", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "sink", repo / "sink", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    root = repo / "stacks" / "demo" / "k8s"
    text = (root / "devstack.toml").read_text().replace('name = "demo"', f'name = "{name}"', 1)
    if not live:
        text = re.sub(r"\[images\.relay\.live_update\].*?(?=\n\[)", "", text, flags=re.S)
    (root / "devstack.toml").write_text(text)
    env = {**os.environ, "NO_COLOR": "1", "KUBECONFIG": str(KUBECONFIG), "RELAY_PORT": str(free_port()),
           "SINK_SMTP_PORT": str(free_port()), "SINK_HTTP_PORT": str(free_port())}
    record = REPO / ".devstack" / "base-image"
    if "DEVSTACK_BASE_IMAGE" not in env and record.is_file():
        env["DEVSTACK_BASE_IMAGE"] = record.read_text().strip()
    return root, env


def relay_py(root: Path) -> Path:
    return root.parent / "relay" / "relay.py"


def measure_floor(root: Path, env: dict[str, str], name: str, edits: int) -> list[float]:
    """By hand: build, push, set the image, wait for the rollout, forward the ports, run the same smoke tests."""
    config = loader.load(root / "devstack.toml", environ=env)
    base = env.get("DEVSTACK_BASE_IMAGE", "python:3.11-slim-bookworm")
    kubectl = ["kubectl", f"--kubeconfig={KUBECONFIG}", f"--context={CONTEXT}", "-n", name]
    latencies = []
    for n in range(1000, 1000 + edits):
        saved = time.perf_counter()
        demo.edit(relay_py(root), n)
        tag = f"{REGISTRY}/relay:floor{n}"
        demo.run(["docker", "build", "-q", "--build-arg", f"BASE={base}", "-t", tag, "../relay"], root, env)
        demo.run(["docker", "push", tag], root, env)
        demo.run([*kubectl, "set", "image", "deployment/relay", f"relay={tag}"], root, env)
        demo.run([*kubectl, "rollout", "status", "deployment/relay", "--timeout=120s"], root, env)
        forwards = [subprocess.Popen([*kubectl, "port-forward", f"svc/{svc}", *ports], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                    for svc, ports in (("relay", [f"{env['RELAY_PORT']}:8000"]),
                                       ("sink", [f"{env['SINK_SMTP_PORT']}:2525", f"{env['SINK_HTTP_PORT']}:8025"]))]
        try:
            for forward in forwards:  # "Forwarding from 127.0.0.1:…" once it listens
                assert forward.stdout is not None
                forward.stdout.readline()
            results = asyncio.run(runner.run_all(config.smoke, lambda _r: []))
            assert all(r.ok for r in results), [r.line() for r in results]
        finally:
            for forward in forwards:
                forward.terminate()
                forward.wait(timeout=10)
        latencies.append(time.perf_counter() - saved)
        demo.run(["docker", "rmi", "-f", tag], root, env, check=False)
    return latencies


def down(root: Path, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "devstack", "--kube-context", CONTEXT, "down", "--images"], cwd=root,
                   env=env, capture_output=True, timeout=demo.WAIT_S)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=5, choices=range(1, 21), metavar="N")
    args = parser.parse_args()
    if not KUBECONFIG.is_file():
        print(f"no test cluster: run `make test-cluster` first ({KUBECONFIG} is missing)", file=sys.stderr)
        return 1
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="devstack-k8sloop-") as tmp_name:
        tmp = Path(tmp_name)
        root, env = copy_demo(tmp, "benchk8sloop", live=False)
        with demo.watching(root, env, OPTIONS) as daemon:
            results["rebuild_s"] = demo.measure_edits(daemon, relay_py(root), args.edits, r"relay .*built .*smoke ✓")
        try:
            results["floor_s"] = measure_floor(root, env, "benchk8sloop", args.edits)
        finally:
            down(root, env)
        root, env = copy_demo(tmp, "benchk8slive", live=True)
        try:
            with demo.watching(root, env, OPTIONS) as daemon:
                results["live_s"] = demo.measure_edits(daemon, relay_py(root), args.edits, r"relay .*synced .*smoke ✓")
        finally:
            down(root, env)
    report(results)
    return 0


RESULT = "k8s_loop.json"


def readme_tables(results: Path) -> str:
    data = json.loads((results / RESULT).read_text())
    rebuild, floor = statistics.median(data["rebuild_s"]), statistics.median(data["floor_s"])
    live = statistics.median(data["live_s"])
    return "\n".join([
        "| path (test cluster, median of {}) | devstack | by hand | ratio |".format(len(data["rebuild_s"])),
        "| --- | --- | --- | --- |",
        f"| rebuild: build, push, rollout, smoke | {rebuild:.2f} s | {floor:.2f} s | {rebuild / floor:.2f}× |",
        f"| live update: exec + tar, SIGHUP, smoke | {live:.2f} s | | |",
    ])


def report(results: dict[str, list[float]]) -> None:
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / RESULT).write_text(json.dumps(results, indent=2))
    print(readme_tables(out))


if __name__ == "__main__":
    sys.exit(main())
