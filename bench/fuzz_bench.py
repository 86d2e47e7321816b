"""A coverage-guided campaign (atheris, libFuzzer) over the parsers of user input that tests/property covers.

Each target gets the same time (--seconds, default 30), seeded with the shipped files, with devstack's own modules
instrumented for coverage. An input passes when it loads, or is refused as the CLI's exit 2 naming the file and
the key or line; any other exception is a crash, recorded (its type and the devstack line that raised it, counted
once each) while the campaign goes on; an input that takes over 10 s is a hang (libFuzzer stops the target there).

Usage: python bench/fuzz_bench.py [--seconds S] [--only TARGET]...  (one child process per target)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "fuzz.json"
TARGETS = ("devstack_toml", "variables", "dockerignore", "reference", "stack_file", "manifests", "kustomization",
           "sink_faults")
SEEDS = {"devstack_toml": ["devstack.toml", "stacks/mailu/devstack.toml", "stacks/mailman/devstack.toml"],
         "dockerignore": ["sink/.dockerignore", "stacks/demo/relay/.dockerignore"],
         "stack_file": ["stacks/demo/stack.yml", "stacks/mailu/stack.offline.yml"],
         "manifests": ["stacks/demo/k8s/relay.yaml", "stacks/kumomta/k8s/kumomta.yaml"],
         "kustomization": ["stacks/mailman/k8s/kustomization.yaml", "stacks/kumomta/k8s/kustomization.yaml"]}
TEXT_SEEDS = {"variables": ["${A:-${B:-x}}", "$$x ${A:?m}"], "reference": ["docker.io/library/relay:1.0"],
              "sink_faults": ["rcpt:*@tempfail.test:451,p=0.5;example.test:550,text=no"]}
HANG_S = 10
# The shape of bench/results/fuzz.json, for tests/unit/test_bench.py (a part of the run of 2026-12-07).
EXAMPLE_RESULTS = {"fuzz.json": {"machine": "vm x86_64, Python 3.11.7", "date": "2026-12-07", "seconds_per_target": 30,
                                 "targets": {"devstack_toml": {"executions": 11884, "coverage": 507, "features": 1117,
                                                               "corpus": 55, "crashes": 0, "hang": False}}}}
_CHILD = "--child"


def main() -> int:
    if sys.argv[1:2] == [_CHILD]:  # libFuzzer's own arguments follow
        return _child(os.environ["DEVSTACK_FUZZ_TARGET"], Path(os.environ["DEVSTACK_FUZZ_OUT"]))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--only", action="append", default=[], choices=TARGETS)
    args = parser.parse_args()
    results = {"machine": f"{platform.node()} {platform.machine()}, Python {platform.python_version()}",
               "date": time.strftime("%Y-%m-%d"), "seconds_per_target": args.seconds,
               "targets": {name: _campaign(name, args.seconds) for name in (args.only or TARGETS)}}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(readme_tables(RESULTS.parent))
    return 0


def _campaign(name: str, seconds: int) -> dict[str, Any]:
    """One target in a child process; its counts from libFuzzer's final statistics and the crash file."""
    with tempfile.TemporaryDirectory(prefix=f"devstack-fuzz-{name}-") as scratch:
        corpus, out = Path(scratch) / "corpus", Path(scratch) / "crashes.json"
        corpus.mkdir()
        for i, seed in enumerate(SEEDS.get(name, [])):
            shutil.copy(REPO / seed, corpus / f"seed{i}")
        for i, text in enumerate(TEXT_SEEDS.get(name, [])):
            (corpus / f"text{i}").write_text(text)
        argv = [sys.executable, __file__, _CHILD, str(corpus), f"-max_total_time={seconds}", f"-timeout={HANG_S}",
                "-print_final_stats=1", "-max_len=65536", f"-artifact_prefix={scratch}/"]
        env = {**os.environ, "DEVSTACK_FUZZ_TARGET": name, "DEVSTACK_FUZZ_OUT": str(out)}
        done = subprocess.run(argv, capture_output=True, text=True, cwd=scratch, env=env, check=False,
                              timeout=seconds + 120)
        crashes = json.loads(out.read_text()) if out.is_file() else {}
        counts = _stats(done.stderr)
        counts.update(crashes=sum(crashes.values()), distinct_crashes=sorted(crashes), hang="ALARM" in done.stderr,
                      exit=done.returncode)
        print(f"{name}: {counts}", flush=True)
        return counts


def _stats(output: str) -> dict[str, Any]:
    units = re.search(r"stat::number_of_executed_units: (\d+)", output)
    coverage = re.findall(r"\bcov: (\d+) ft: (\d+)", output)
    corpus = re.findall(r"\bcorp: (\d+)/", output)
    return {"executions": int(units.group(1)) if units else 0,
            "coverage": int(coverage[-1][0]) if coverage else 0, "features": int(coverage[-1][1]) if coverage else 0,
            "corpus": int(corpus[-1]) if corpus else 0}


def _child(name: str, out: Path) -> int:
    import atheris  # type: ignore[import-untyped]

    with atheris.instrument_imports(include=["devstack", "devstack_sink"]):
        check = _target(name, Path(tempfile.mkdtemp(prefix="devstack-fuzz-work-")))
    crashes: dict[str, int] = {}

    def one(data: bytes) -> None:
        try:
            check(data)
        except Exception as err:  # a crash: counted once per kind and place, the campaign goes on
            place = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(traceback.extract_tb(
                err.__traceback__)) if "devstack" in f.filename), "?")
            key = f"{type(err).__name__} at {place}: {str(err)[:80]}"
            crashes[key] = crashes.get(key, 0) + 1
            out.write_text(json.dumps(crashes))

    out.write_text("{}")
    atheris.Setup([sys.argv[0], *sys.argv[2:]], one)
    atheris.Fuzz()
    return 0


def _target(name: str, work: Path) -> Callable[[bytes], None]:
    """The check for one target: returns, or raises what is a crash (fuzz_targets.py holds them)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fuzz_targets

    return fuzz_targets.make(name, work, REPO)


def readme_tables(results: Path) -> str:
    data = json.loads((results / "fuzz.json").read_text())
    rows = ["| target | executions | coverage (edges) | features | corpus | crashes | hang |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, counts in data["targets"].items():
        rows.append(f"| {name} | {counts['executions']:,} | {counts['coverage']:,} | {counts['features']:,} | "
                    f"{counts['corpus']:,} | {counts['crashes']} | {'yes' if counts['hang'] else 'no'} |")
    return "\n".join(rows)  # the machine, date and time per target are in the results, said in the page's text


if __name__ == "__main__":
    sys.exit(main())
