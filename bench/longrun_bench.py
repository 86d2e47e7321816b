"""The long run: `devstack up` of the demo through many cycles of live updates, rebuilds, config edits and a typo
with its fix (bench/longrun.py, as the `make test` version drives it), the engine restarted twice (dockerd; the
kube-apiserver), every forward used and the relay's logs seen between cycles, on swarm and on the test cluster (the
demo's Kubernetes profile, context devstack-test). The daemon's open fds, threads, asyncio tasks and RSS are read
from its API at cycle --early and every --every cycles to the last; also whether every save was synced or built
once and every forward answers at the end.

Usage: python bench/longrun_bench.py [--cycles N] [--early N] [--every N] [--provider swarm|kubernetes]...
Bounded in count (--cycles, at most 1,000) and in time per cycle; 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import demo  # noqa: E402  (bench/demo.py, beside this script)
import k8s_loop_bench  # noqa: E402
import restarts  # noqa: E402
from demo import Daemon  # noqa: E402
from longrun import RSS_SLACK, LongRun, Target, restart_points  # noqa: E402

RESULT = "longrun.json"
FORWARD = '\n[[forwards]]\nresource = "sink"\nlocal = "${FORWARD_PORT}"\nremote = 8025\n'


def swarm_target(tmp: Path) -> tuple[Target, list[str]]:
    root = demo.copy(tmp, "benchlongrun")
    env = {**demo.environment(18400), "FORWARD_PORT": str(k8s_loop_bench.free_port())}
    with (root / "devstack.toml").open("a") as config:
        config.write(FORWARD)  # a forward devstack serves itself, beside the ports the engine publishes
    http = {"sink": f"http://127.0.0.1:{env['SINK_HTTP_PORT']}/stats",
            "forward": f"http://127.0.0.1:{env['FORWARD_PORT']}/stats"}
    return _target(root / "devstack.toml", root / "stacks/demo/relay", env, http, restarts.restart_dockerd), []


def kubernetes_target(tmp: Path) -> tuple[Target, list[str]]:
    root, env = k8s_loop_bench.copy_demo(tmp, "benchlongrunk8s", live=True)
    http = {"sink": f"http://127.0.0.1:{env['SINK_HTTP_PORT']}/stats"}
    return (_target(root / "devstack.toml", root.parent / "relay", env, http, restarts.restart_apiserver),
            list(k8s_loop_bench.OPTIONS))


def _target(config: Path, relay: Path, env: dict[str, str], http: dict[str, str],
            restart: Callable[[], None]) -> Target:
    url = f"http://127.0.0.1:{env['RELAY_PORT']}"
    return Target(config=config, relay=relay, env=env, http={"relay": f"{url}/healthz", **http},
                  smtp_port=int(env["SINK_SMTP_PORT"]), relay_url=f"{url}/", restart=restart)


def measure(target: Target, options: list[str], cycles: int, early: int, every: int) -> dict[str, Any]:
    daemon = Daemon(target.config.parent, target.env, "--web-port", "0", options=options)
    readings: dict[int, dict[str, int]] = {}
    started, done = time.monotonic(), 0
    try:
        run = LongRun(target, daemon, restart_at=restart_points(cycles))
        run.begin()
        for n in range(1, cycles + 1):
            run.cycle(n)
            done = n
            if n in (early, cycles) or n % every == 0:
                readings[n] = vars(run.vitals(most=n == early))
                print(f"cycle {n}: {readings[n]}", flush=True)
        run.use_forwards()
        return {"cycles": done, "seconds": time.monotonic() - started, "vitals": readings, "saves": run.saves,
                "reported": run.counted(), "forwards_answer": True, "alive": daemon.process.poll() is None,
                "restarts": run.restarts}
    finally:
        daemon.stop()
        subprocess.run([sys.executable, "-m", "devstack", *options, "down", "--images"], cwd=target.config.parent,
                       env=target.env, capture_output=True, timeout=demo.WAIT_S, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=500, choices=range(1, 1001), metavar="N")
    parser.add_argument("--early", type=int, default=50, metavar="N")
    parser.add_argument("--every", type=int, default=50, metavar="N")
    parser.add_argument("--provider", action="append", choices=("swarm", "kubernetes"))
    args = parser.parse_args()
    early = min(args.early, args.cycles)
    results: dict[str, Any] = {}
    targets = {"swarm": swarm_target, "kubernetes": kubernetes_target}
    with tempfile.TemporaryDirectory(prefix="devstack-longrun-") as tmp_name:
        for provider in args.provider or list(targets):
            target, options = targets[provider](Path(tmp_name) / provider)
            results[provider] = {"early": early, **measure(target, options, args.cycles, early, args.every)}
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / RESULT).write_text(json.dumps(results, indent=2))
    print(readme_tables(out))
    return 0


# Results in the shape main() writes them, for tests/unit/test_bench.py.
EXAMPLE_RESULTS = {RESULT: {"swarm": {
    "early": 5, "cycles": 30, "seconds": 600.0, "saves": {"live": 12, "rebuild": 6},
    "reported": {"live": 12, "rebuild": 6}, "forwards_answer": True, "alive": True, "restarts": 2,
    "vitals": {"5": {"fds": 20, "threads": 5, "tasks": 12, "rss_bytes": 70 * 2**20},
               "30": {"fds": 20, "threads": 5, "tasks": 12, "rss_bytes": 71 * 2**20}}}}}


def readme_tables(results: Path) -> str:
    """One row per provider: the daemon's counts at the early cycle and the last, and whether they are flat."""
    data = json.loads((results / RESULT).read_text())
    rows = ["| provider | cycles (time) | engine restarts | fds | threads | asyncio tasks | RSS (MiB) "
            "| saves synced/built once | forwards answer | flat |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for provider, run in data.items():
        first, last = run["vitals"][str(run["early"])], run["vitals"][str(run["cycles"])]
        pairs = [f"{first[key]} → {last[key]}" for key in ("fds", "threads", "tasks")]
        rss = f"{first['rss_bytes'] / 2**20:.1f} → {last['rss_bytes'] / 2**20:.1f}"
        flat = all(last[key] <= first[key] for key in ("fds", "threads", "tasks")) and \
            abs(first["rss_bytes"] - last["rss_bytes"]) <= RSS_SLACK
        rows.append(f"| {provider} | {run['early']} → {run['cycles']} ({run['seconds'] / 60:.0f} min) | "
                    f"{run.get('restarts', 0)} | "
                    f"{' | '.join(pairs)} | {rss} | {'yes' if run['saves'] == run['reported'] else 'no'} | "
                    f"{'yes' if run['forwards_answer'] else 'no'} | {'yes' if flat else 'no'} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
