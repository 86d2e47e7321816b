"""Where and when a benchmark ran, recorded beside its numbers and shown above its tables: the date, the machine
(CPUs, memory), the Docker engine, the Kubernetes server and the load average at the start and the end (the
machine is shared: a ratio only means something against a floor of the same run, under the same load)."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CLUSTER_BIN = REPO / ".devstack" / "test-cluster" / "bin"  # the test cluster's kubectl (cluster.py writes it)


def use_cluster_tools(env: dict[str, str]) -> dict[str, str]:
    """`env` with the test cluster's kubectl first on PATH, as the suite runs it: the floors use the kubectl of the
    cluster's own version."""
    if CLUSTER_BIN.is_dir():
        return {**env, "PATH": f"{CLUSTER_BIN}{os.pathsep}{env.get('PATH', '')}"}
    return env


def load() -> float:
    return round(os.getloadavg()[0], 2)


def facts(kubeconfig: Path | None = None) -> dict[str, Any]:
    memory = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0)
    found: dict[str, Any] = {"date": datetime.date.today().isoformat(), "cpus": os.cpu_count(),
                             "memory_gib": round(memory / 1024 / 1024), "docker": _docker(), "load_start": load()}
    if kubeconfig is not None:
        found["kubernetes"] = _kubernetes(kubeconfig)
    return found


def finished(found: dict[str, Any]) -> dict[str, Any]:
    return {**found, "load_end": load()}


def rows(found: dict[str, Any]) -> list[str]:
    """A table of the run's facts, for the top of a benchmark's section."""
    where = f"{found.get('cpus')} CPUs, {found.get('memory_gib')} GiB, Docker {found.get('docker')}"
    if found.get("kubernetes"):
        where += f", Kubernetes {found['kubernetes']} (the test cluster)"
    return ["| run | date | machine | load average (start → end) |", "| --- | --- | --- | --- |",
            f"| this table's | {found.get('date')} | {where} | {found.get('load_start')} → {found.get('load_end')} |"]


def _docker() -> str:
    done = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True,
                          check=False, timeout=30)
    return done.stdout.strip() or "unknown"


def _kubernetes(kubeconfig: Path) -> str:
    done = subprocess.run(["kubectl", f"--kubeconfig={kubeconfig}", "version", "-o", "json"], capture_output=True,
                          text=True, check=False, timeout=30, env=use_cluster_tools(dict(os.environ)))
    try:
        return str(json.loads(done.stdout)["serverVersion"]["gitVersion"])
    except (ValueError, KeyError):
        return "unknown"
