"""A throwaway copy of the demo for the benchmarks: its own project name and ports, the repo's base image."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def copy(tmp: Path, name: str, *, smoke: bool = True, live_update: bool = True) -> Path:
    root = tmp / name
    shutil.copytree(REPO / "stacks" / "demo", root / "stacks" / "demo", ignore=shutil.ignore_patterns("k8s"))
    shutil.copytree(REPO / "sink", root / "sink", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    text = (REPO / "devstack.toml").read_text().replace('name = "demo"', f'name = "{name}"', 1)
    if not live_update:
        text = re.sub(r"\[images\.relay\.live_update\].*?(?=\n\[)", "", text, flags=re.S)
    if not smoke:
        text = text.split("\n[[smoke]]", 1)[0]
    (root / "devstack.toml").write_text(text)
    return root


def environment(first_port: int) -> dict[str, str]:
    """Ports first_port (relay), +25 (sink SMTP), +80 (sink HTTP); the base image `make` recorded."""
    env = {**os.environ, "NO_COLOR": "1", "RELAY_PORT": str(first_port), "SINK_SMTP_PORT": str(first_port + 25),
           "SINK_HTTP_PORT": str(first_port + 80)}
    record = REPO / ".devstack" / "base-image"
    if "DEVSTACK_BASE_IMAGE" not in env and record.is_file():
        env["DEVSTACK_BASE_IMAGE"] = record.read_text().strip()
    return env
