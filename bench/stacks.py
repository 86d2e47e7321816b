"""What the stack benchmarks (bench/*_bench.py of a mail stack) share: their rows in docs/benchmarks.md for cold and
warm `ci` against a peer stack, and writing their results where bench/run.py reads them."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def ci_rows(ours: list[float], peer: list[float], peer_name: str, cold_note: str) -> list[str]:
    """Two table rows: (cold, warm) seconds of `devstack ci` for the stack and its peer."""
    (cold, warm), (peer_cold, peer_warm) = ours, peer
    return [f"| cold `ci` ({cold_note}) | {cold:.1f} s | {peer_name} {peer_cold:.1f} s | {cold / peer_cold:.2f}× |",
            f"| warm `ci` (nothing changed) | {warm:.1f} s | {peer_name} {peer_warm:.1f} s | {warm / peer_warm:.2f}× |"]


def record(name: str, results: dict[str, Any], readme_tables: Callable[[Path], str]) -> int:
    """Write `results` as bench/results/NAME and print the tables of docs/benchmarks.md from them."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(results, indent=2))
    print(readme_tables(RESULTS))
    return 0


def unused_subnet(engine: Any, prefix: str = "192.168") -> str:
    """The first {prefix}.N.0/24 (N from 100) that no network of the Docker engine overlaps: a swarm stack's
    overlay network (Mailu's SUBNET) must not meet another network of the machine."""
    taken = [ipaddress.ip_network(config["Subnet"]) for network in engine.networks.list(greedy=True)
             for config in (network.attrs.get("IPAM") or {}).get("Config") or [] if "Subnet" in config]
    for third in range(100, 255):
        subnet = ipaddress.ip_network(f"{prefix}.{third}.0/24")
        if not any(subnet.overlaps(other) for other in taken):
            return str(subnet)
    raise RuntimeError(f"no {prefix}.N.0/24 is free on this engine")
