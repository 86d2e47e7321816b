"""Cold `up`, warm `up` and `down` of the demo, against the same work done by hand with the docker CLI (the
floor), measured in the same run and reported as ratios. The machine is shared and noisy: compare ratios.

    cold up   the base image present, no demo image, nothing deployed
    warm up   nothing changed since the last up
    down      remove the stack

"up" is the run-once pass: `devstack ci` on a copy of the demo without its smoke tests, i.e. build, deploy and
wait until ready (`devstack up` itself goes on watching).

The floor is what a person would type: `docker build` of each image (one after the other), `docker stack
deploy`, then polling until each service runs its replicas and its ports answer; `docker stack rm` and waiting
until its network is gone. Usage: python bench/updown_bench.py [--rounds N] (default 3; bounded: ~2 min/round).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import demo  # bench/demo.py: a script's own folder is on sys.path
import yaml

from devstack.config import secret_store as secrets

REPO = Path(__file__).resolve().parents[1]
PROJECT = "benchupdown"
TIMEOUT_S = 300


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, choices=range(1, 11), metavar="N")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="devstack-bench-") as tmp:
        root = demo.copy(Path(tmp), PROJECT, smoke=False)
        env = demo.environment(18100)
        _ensure_swarm()  # a swarm devstack did not create: neither side pays for init or leave
        rows: dict[str, list[float]] = {k: [] for k in ("cold up", "warm up", "down")}
        floors: dict[str, list[float]] = {k: [] for k in rows}
        for _ in range(args.rounds):
            _measure_devstack(root, env, rows)
            _measure_floor(root, env, floors)
    _report(rows, floors, args.rounds)
    return 0


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, timeout=TIMEOUT_S, capture_output=True)
    return time.perf_counter() - started


def _devstack(*args: str) -> list[str]:
    return [sys.executable, "-m", "devstack", *args]


def _measure_devstack(root: Path, env: dict[str, str], rows: dict[str, list[float]]) -> None:
    _remove_images(["relay", "sink"])
    rows["cold up"].append(_timed(_devstack("ci"), root, env))
    rows["warm up"].append(_timed(_devstack("ci"), root, env))
    rows["down"].append(_timed(_devstack("down"), root, env))


def _measure_floor(root: Path, env: dict[str, str], floors: dict[str, list[float]]) -> None:
    """The same work by hand. The stack file is the one devstack rendered (tags, labels, variables)."""
    rendered = root / ".devstack" / "stack.rendered.yml"
    document = yaml.safe_load(rendered.read_text())
    tags = {name: s["image"] for name, s in document["services"].items()}
    _remove_images(["relay", "sink"])
    base = env.get("DEVSTACK_BASE_IMAGE", "python:3.11-slim-bookworm")
    _ensure_swarm()

    secrets = _external_secrets(document)

    def up() -> None:
        for name, value in secrets.items():  # devstack creates its dev secrets; by hand, so does the person
            if subprocess.run(["docker", "secret", "inspect", name], capture_output=True).returncode:
                subprocess.run(["docker", "secret", "create", name, "-"], input=value.encode(), check=True,
                               capture_output=True, timeout=TIMEOUT_S)
        for name, context in (("relay", "stacks/demo/relay"), ("sink", "sink")):
            subprocess.run(["docker", "build", "-q", "--build-arg", f"BASE={base}", "-t", tags[name], context],
                           cwd=root, env=env, check=True, capture_output=True, timeout=TIMEOUT_S)
        subprocess.run(["docker", "stack", "deploy", "--resolve-image", "never", "-c", str(rendered), PROJECT],
                       cwd=root, env=env, check=True, capture_output=True, timeout=TIMEOUT_S)
        _wait_ready([f"{PROJECT}_{name}" for name in tags], [18100, 18125, 18180])

    for key in ("cold up", "warm up"):
        started = time.perf_counter()
        up()
        floors[key].append(time.perf_counter() - started)
    started = time.perf_counter()
    subprocess.run(["docker", "stack", "rm", PROJECT], check=True, capture_output=True, timeout=TIMEOUT_S)
    _wait_gone(f"{PROJECT}_default")
    for name in secrets:  # external to the stack: `stack rm` leaves them
        subprocess.run(["docker", "secret", "rm", name], check=True, capture_output=True, timeout=TIMEOUT_S)
    floors["down"].append(time.perf_counter() - started)


def _external_secrets(document: dict[str, Any]) -> dict[str, str]:
    """Swarm secret name → value, for the dev secrets the rendered stack uses (values from devstack's store)."""
    store = json.loads((secrets.state_dir(PROJECT) / secrets.FILENAME).read_text())
    return {spec["name"]: store[key] for key, spec in (document.get("secrets") or {}).items()
            if spec.get("external") and key in store}


def _ensure_swarm() -> None:
    state = subprocess.run(["docker", "info", "-f", "{{.Swarm.LocalNodeState}}"], capture_output=True, text=True,
                           check=True).stdout.strip()
    if state != "active":
        subprocess.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], check=True, capture_output=True)


def _wait_ready(services: list[str], ports: list[int]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        out = subprocess.run(["docker", "service", "ls", "--format", "{{.Name}} {{.Replicas}}"], capture_output=True,
                             text=True, check=True).stdout.split("\n")
        replicas = dict(line.split(" ", 1) for line in out if line)
        if all(replicas.get(s, "").startswith("1/1") for s in services) and all(map(_accepts, ports)):
            return
        time.sleep(0.2)
    raise TimeoutError("the hand-deployed stack did not become ready")


def _wait_gone(network: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        names = subprocess.run(["docker", "network", "ls", "--format", "{{.Name}}"], capture_output=True, text=True,
                               check=True).stdout.split()
        if network not in names:
            return
        time.sleep(0.2)
    raise TimeoutError(f"network {network} still exists")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _remove_images(repositories: list[str]) -> None:
    """Drop the demo's built images (any tag) so the next up really builds; the base image stays."""
    for repository in repositories:
        ids = subprocess.run(["docker", "images", "-q", repository], capture_output=True, text=True,
                             check=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rmi", "-f", *sorted(set(ids))], capture_output=True, check=False)


def _report(rows: dict[str, list[float]], floors: dict[str, list[float]], rounds: int) -> None:
    print(f"{'operation':<10} {'devstack':>10} {'by hand':>10} {'ratio':>7}   (median of {rounds})")
    results = {}
    for key in rows:
        mine, floor = statistics.median(rows[key]), statistics.median(floors[key])
        results[key] = {"devstack_s": mine, "floor_s": floor, "ratio": mine / floor,
                        "devstack_all": rows[key], "floor_all": floors[key]}
        print(f"{key:<10} {mine:>9.1f}s {floor:>9.1f}s {mine / floor:>6.2f}x")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "updown.json").write_text(json.dumps(results, indent=2))


LABELS = {"cold up": "cold up (base image present, no demo image, nothing deployed)",
          "warm up": "warm up (nothing changed: nothing built, nothing updated)", "down": "down"}


# Results in the shape main() writes them (the numbers in docs/benchmarks.md), for tests/unit/test_bench.py.
EXAMPLE_RESULTS = {"updown.json": {key: {"devstack_s": mine, "floor_s": floor, "ratio": mine / floor}
                                   for key, mine, floor in [("cold up", 4.8, 4.3), ("warm up", 0.4, 0.2),
                                                            ("down", 4.1, 3.7)]}}


def readme_tables(results: Path) -> str:
    """The table of docs/benchmarks.md, from the last results/updown.json."""
    data = json.loads((results / "updown.json").read_text())
    rows = ["| operation | devstack | by hand | ratio |", "| --- | --- | --- | --- |"]
    for key, label in LABELS.items():
        row = data[key]
        rows.append(f"| {label} | {row['devstack_s']:.1f} s | {row['floor_s']:.1f} s | {row['ratio']:.2f}× |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
