"""The offline path of images from Debian packages (docs/images.md), for the list `hello`:

    cold base      debootstrap + chroot apt-get + import, with no cached minimal system (the first list)
    cached base    the same with the minimal system unpacked from its cache (every later list)
    reuse          the tag exists: nothing is built
    image          `docker build` of the interface's Dockerfile FROM that base, with no network (the RUN no-op)

Ratios: each base build against the cold one, and the image against its floor, a `FROM base` + `RUN true`
build measured in the same run. Needs root and debootstrap. Usage: python bench/package_base_bench.py
[--rounds N] (default 1; bounded: about 5 minutes a round here). Removes the images it made; the real cache of
the minimal system is not touched (a temporary one is used).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors

from devstack.config import packages
from devstack.config.model import PackageList
from devstack.images.package_base import DOCKERFILE, PackageBase

REPO = Path(__file__).resolve().parents[1]
NAMES = ("hello",)
FLOOR = "ARG BASE\nFROM ${BASE}\nCOPY packages.txt /tmp/devstack-packages.txt\nRUN true\n"
KEYS = ("cold base", "cached base", "reuse", "image")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, choices=range(1, 4), metavar="N")
    args = parser.parse_args()
    client = docker.from_env(timeout=600)
    listed = PackageList(file=Path("packages.txt"), names=NAMES, digest=packages.digest(NAMES))
    rows: dict[str, list[float]] = {k: [] for k in KEYS}
    floor: list[float] = []
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="devstack-bench-pkg-", dir="/var/tmp") as tmp:
        base = PackageBase(image=f"devstack/debian-bench:{listed.digest[:12]}", packages=NAMES,
                           digest=listed.digest, cache=Path(tmp) / "cache")
        context = Path(tmp) / "context"
        context.mkdir()
        (context / "packages.txt").write_text("".join(f"{n}\n" for n in NAMES))
        try:
            for _ in range(args.rounds):
                (base.cache / f"{base.suite}-minbase.tar").unlink(missing_ok=True)
                for key in ("cold base", "cached base"):
                    _remove(client, base.image)
                    rows[key].append(_timed(lambda: base.ensure(client)))
                rows["reuse"].append(_timed(lambda: base.ensure(client)))
                rows["image"].append(_timed(lambda: _build(client, context, DOCKERFILE, base.image, sizes)))
                floor.append(_timed(lambda: _build(client, context, FLOOR, base.image, {})))
            sizes["base"] = int(client.images.get(base.image).attrs["Size"])
        finally:
            _remove(client, base.image)
    _report(rows, floor, sizes, args.rounds)
    return 0


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _build(client: docker.DockerClient, context: Path, dockerfile: str, base: str, sizes: dict[str, int]) -> None:
    (context / "Dockerfile").write_text(dockerfile)
    image, _ = client.images.build(path=str(context), buildargs={"BASE": base}, network_mode="none", nocache=True,
                                   rm=True, forcerm=True)
    sizes["image"] = int(image.attrs["Size"])
    client.images.remove(image.id)


def _remove(client: docker.DockerClient, tag: str) -> None:
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(tag)


def _report(rows: dict[str, list[float]], floor: list[float], sizes: dict[str, int], rounds: int) -> None:
    cold, image_floor = statistics.median(rows["cold base"]), statistics.median(floor)
    results: dict[str, object] = {"sizes_mb": {k: round(v / 1e6) for k, v in sizes.items()}, "rounds": rounds}
    for key in KEYS:
        mine = statistics.median(rows[key])
        peer = image_floor if key == "image" else cold
        results[key] = {"seconds": mine, "peer_s": peer, "ratio": mine / peer, "all": rows[key]}
        print(f"{key:<12} {mine:>8.2f}s  {mine / peer:>6.3f}x of {peer:.1f}s")
    print(f"sizes (MB): {results['sizes_mb']}")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "package_base.json").write_text(json.dumps(results, indent=2))


# The results docs/benchmarks.md shows (the last run), in the shape `_report` writes them: tests/unit/test_bench.py
# checks that the page holds the tables they give.
EXAMPLE_RESULTS = {"package_base.json": {"sizes_mb": {"image": 117, "base": 117}, **{
    key: {"seconds": mine, "peer_s": peer, "ratio": mine / peer} for key, mine, peer in [
        ("cold base", 171.71, 171.71), ("cached base", 64.18, 171.71), ("reuse", 0.004236, 171.71),
        ("image", 1.4649, 1.2911)]}}}

LABELS = {"cold base": "offline base, first list (debootstrap + apt + import)",
          "cached base": "offline base, next list (cached minimal system + apt + import)",
          "reuse": "offline base exists (reuse)", "image": "image FROM it, RUN a no-op (vs FROM + RUN true)"}


def readme_tables(results: Path) -> str:
    """The table of docs/benchmarks.md, from the last results/package_base.json."""
    data = json.loads((results / "package_base.json").read_text())
    rows = ["| operation | time | compared with | ratio |", "| --- | --- | --- | --- |"]
    for key, label in LABELS.items():
        row = data[key]
        peer = "FROM + RUN true" if key == "image" else "first list"
        rows.append(f"| {label} | {_s(row['seconds'])} | {peer}: {_s(row['peer_s'])} | {row['ratio']:.3g}× |")
    sizes = data["sizes_mb"]
    rows += ["", "| image (list `hello`) | size |", "| --- | --- |", f"| offline base | {sizes['base']} MB |",
             f"| image FROM it | {sizes['image']} MB |"]
    return "\n".join(rows)


def _s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


if __name__ == "__main__":
    sys.exit(main())
