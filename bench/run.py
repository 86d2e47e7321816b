"""`make bench`: run every benchmark under bench/, then print the tables of docs/benchmarks.md from what they measured.

A benchmark is a script named bench/NAME_bench.py (found by that name: adding one is adding the file). It
  - measures when run as a script, bounded in count and time, and writes its results under bench/results/;
  - defines `readme_tables(results: Path) -> str`: its Markdown tables for docs/benchmarks.md, from its latest
    results there;
  - may define EXAMPLE_RESULTS ({file name: JSON} in the shape it writes): tests/unit/test_bench.py renders them
    and checks that docs/benchmarks.md carries the same tables.

Usage: python bench/run.py [--list] [--only NAME]... [--tables-only]
  --list          print the benchmarks found, run nothing
  --only NAME     run only these (repeatable); --tables-only prints the tables from the last results
A benchmark that fails is reported, the others still run; the exit code is 1 when any failed.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
SUFFIX = "_bench"


def discover() -> dict[str, Path]:
    """NAME → bench/NAME_bench.py, sorted by name."""
    return {path.stem.removesuffix(SUFFIX): path for path in sorted(BENCH.glob(f"*{SUFFIX}.py"))}


def module(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # as when the script runs: its own folder is on sys.path
    return importlib.import_module(name + SUFFIX)


def run(name: str, script: Path) -> bool:
    print(f"=== {name}: python {script.relative_to(BENCH.parent)}", flush=True)
    started = time.monotonic()
    code = subprocess.run([sys.executable, str(script)], cwd=BENCH.parent, check=False).returncode
    print(f"=== {name}: {'done' if code == 0 else f'FAILED (exit {code})'} in {time.monotonic() - started:.0f}s",
          flush=True)
    return code == 0


def tables(name: str) -> str:
    try:
        return module(name).readme_tables(RESULTS)  # type: ignore[no-any-return]
    except (FileNotFoundError, KeyError, ValueError) as err:
        return f"(no results to show: {err})"
    except AttributeError:
        return f"(bench/{name}{SUFFIX}.py defines no readme_tables)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--only", action="append", default=[], metavar="NAME")
    parser.add_argument("--tables-only", action="store_true")
    args = parser.parse_args()
    found = discover()
    unknown = sorted(set(args.only) - set(found))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)} (found: {', '.join(found)})")
    chosen = {name: path for name, path in found.items() if not args.only or name in args.only}
    if args.list:
        print("\n".join(f"{name}\t{path.relative_to(BENCH.parent)}" for name, path in chosen.items()))
        return 0
    failed = [] if args.tables_only else [name for name, path in chosen.items() if not run(name, path)]
    for name in chosen:
        print(f"\n--- README tables: {name} ---\n{tables(name)}")  # the heading tests/unit/test_bench.py reads
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
