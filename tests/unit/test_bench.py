"""`make bench` runs bench/run.py: it finds every bench/NAME_bench.py and prints the README's tables from their
results. Here: discovery, and each benchmark's tables rendered from results in the shape it writes them, with
the README showing the very same table headers (so README and benchmarks cannot drift apart unnoticed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import run  # noqa: E402  (bench/run.py, as make bench runs it)

# Results as each benchmark writes them (the numbers are the README's).
RESULTS: dict[str, dict[str, object]] = {
    "updown.json": {key: {"devstack_s": mine, "floor_s": floor, "ratio": mine / floor}
                    for key, mine, floor in [("cold up", 4.8, 4.3), ("warm up", 0.4, 0.2), ("down", 4.1, 3.7)]},
    "loop.json": {"rebuild_s": [6.85], "floor_s": [11.34], "live_s": [0.24],
                  "idle": {"cpu_percent": 0.25, "rss_mib": 63}, "logs": {"produced": 200000, "shown": 200000,
                                                                        "ratio": 1.0}},
    "sink-20261130-000000.json": {"summary": [
        {"mode": "per-connection", "postfix_msg_per_s": 6100, "devstack_msg_per_s": 3280,
         "ratio_devstack_to_postfix": 0.538, "postfix_cpu_us_per_msg": 136, "devstack_cpu_us_per_msg": 291,
         "source_cpu_us_per_msg": 170, "postfix_machine_busy": 0.92, "devstack_machine_busy": 0.78},
        {"mode": "reuse (-d)", "postfix_msg_per_s": 18710, "devstack_msg_per_s": 10408,
         "ratio_devstack_to_postfix": 0.556, "postfix_cpu_us_per_msg": 50, "devstack_cpu_us_per_msg": 117,
         "source_cpu_us_per_msg": 51, "postfix_machine_busy": 0.94, "devstack_machine_busy": 0.9}]},
}


def test_every_benchmark_script_is_found() -> None:
    listed = subprocess.run([sys.executable, "bench/run.py", "--list"], cwd=REPO, capture_output=True, text=True,
                            check=True, timeout=60).stdout.split()
    scripts = sorted(path.name for path in (REPO / "bench").glob("*_bench.py"))
    assert sorted(listed[1::2]) == [f"bench/{name}" for name in scripts]
    assert set(listed[::2]) >= {"updown", "loop", "sink"}


def test_an_unknown_benchmark_is_a_usage_error() -> None:
    result = subprocess.run([sys.executable, "bench/run.py", "--only", "nope"], cwd=REPO, capture_output=True,
                            text=True, check=False, timeout=60)
    assert result.returncode == 2 and "no benchmark named nope" in result.stderr


@pytest.fixture
def results(tmp_path: Path) -> Path:
    for name, data in RESULTS.items():
        (tmp_path / name).write_text(json.dumps(data))
    return tmp_path


@pytest.mark.parametrize("name", sorted(run.discover()))
def test_each_benchmark_prints_the_readme_tables(name: str, results: Path) -> None:
    text = run.module(name).readme_tables(results)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = text.splitlines()
    headers = [row for i, row in enumerate(rows) if i + 1 < len(rows) and rows[i + 1].startswith("| ---")]
    assert headers, text
    for header in headers:
        assert header in readme, header
    assert all(row.startswith("| ") for row in rows if row)


def test_the_readme_rows_come_back_from_the_numbers_they_show(results: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in ("loop", "sink"):
        for row in run.module(name).readme_tables(results).splitlines()[2:]:
            assert not row.startswith("| ") or row in readme, row
    assert "| cold up (base image present, no demo image, nothing deployed) | 4.8 s | 4.3 s | 1.12× |" in readme


def test_tables_only_prints_without_running(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "bench/run.py", "--tables-only", "--only", "updown"], cwd=REPO,
                            capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.startswith("\n--- README tables: updown ---\n")
