"""The order of a deploy: resources in stages, each after the stages holding its dependencies (`depends_on`).

    stages(config, ("dragonfly", "kumomta", "sink"))  →  [("dragonfly", "sink"), ("kumomta",)]

Pure: names in, names out. Dependencies that are not resources of the deploy (a [[local]] one) are left to
whoever runs those; the graph has no cycle (config.resources.check_graph).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from devstack.config.model import Config


def stages(config: Config, names: Sequence[str]) -> list[tuple[str, ...]]:
    among = set(names)
    needs = {name: [d for d in config.resource(name).depends_on if d in among] for name in names}
    done: set[str] = set()
    found: list[tuple[str, ...]] = []
    while len(done) < len(among):
        stage = tuple(name for name in names if name not in done and all(d in done for d in needs[name]))
        if not stage:  # a cycle: check_graph refuses one when the file loads, so this is a bug
            raise AssertionError(f"dependencies in a cycle among {sorted(among - done)}")
        found.append(stage)
        done.update(stage)
    return found


def waiting(config: Config, names: Collection[str], ready: Collection[str]) -> dict[str, tuple[str, ...]]:
    """Each of `names` with the dependencies it still waits on (those of the deploy not ready yet)."""
    return {name: deps for name in names
            if (deps := tuple(d for d in config.resource(name).depends_on if d not in ready))}
