"""`make bench` runs bench/run.py: it finds every bench/NAME_bench.py and prints the benchmark tables from their
results for docs/benchmarks.md. Here: discovery, and each benchmark's tables rendered from its EXAMPLE_RESULTS
(results in the shape it writes them), with docs/benchmarks.md showing the very same table headers, so the page and
the benchmarks cannot drift apart unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "benchmarks.md"  # where the benchmarks' tables are shown
sys.path.insert(0, str(REPO / "bench"))
import run  # noqa: E402  (bench/run.py, as make bench runs it)


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


@pytest.mark.parametrize("name", sorted(run.discover()))
def test_each_benchmark_can_print_its_tables(name: str) -> None:
    assert callable(run.module(name).readme_tables)


EXAMPLES = [name for name in sorted(run.discover()) if hasattr(run.module(name), "EXAMPLE_RESULTS")]


def example_results(tmp_path: Path, name: str) -> Path:
    for file, data in run.module(name).EXAMPLE_RESULTS.items():
        (tmp_path / file).write_text(json.dumps(data))
    return tmp_path


def test_the_first_benchmarks_carry_examples() -> None:
    assert {"updown", "loop", "sink"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_benchmark_prints_the_readme_tables(name: str, tmp_path: Path) -> None:
    text = run.module(name).readme_tables(example_results(tmp_path, name))
    readme = PAGE.read_text(encoding="utf-8")
    rows = text.splitlines()
    headers = [row for i, row in enumerate(rows) if i + 1 < len(rows) and rows[i + 1].startswith("| ---")]
    assert headers, text
    for header in headers:
        assert header in readme, header
    assert all(row.startswith("| ") for row in rows if row)


def test_the_readme_rows_come_back_from_the_numbers_they_show(tmp_path: Path) -> None:
    readme = PAGE.read_text(encoding="utf-8")
    for name in ("loop", "sink"):
        for row in run.module(name).readme_tables(example_results(tmp_path, name)).splitlines()[2:]:
            assert not row.startswith("| ") or row in readme, row
    assert "| cold up (base image present, no demo image, nothing deployed) | 4.8 s | 4.3 s | 1.12× |" in readme


def test_tables_only_prints_without_running(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "bench/run.py", "--tables-only", "--only", "updown"], cwd=REPO,
                            capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.startswith("\n--- README tables: updown ---\n")
