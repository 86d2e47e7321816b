"""What the stack benchmarks (bench/*_bench.py of a mail stack) share: their rows in docs/benchmarks.md for cold and
warm `ci` against a peer stack, and writing their results where bench/run.py reads them."""

from __future__ import annotations

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
