"""The daemon's view of each resource: what `devstack status` reports and the live view draws. Written by the
reconciler (what it did) and the observer (what the engine reports), both on the event loop; read by everyone."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from devstack.providers.base import ResourceStatus

_AWAY = "the engine went away: "


@dataclass
class Resource:
    name: str
    image: str = ""  # the tag deployed
    build: str = "pending"  # pending | building | ok | error | live (synced, not rebuilt)
    deploy: str = "pending"  # pending | deploying | ok | error
    ready: bool = False
    smoke: str | None = None  # None (no tests yet) | ok | failed
    updated_at: str | None = None
    last_error: str = ""
    since: float = field(default_factory=time.time)  # when its running instance started (Unix time)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("since")
        data["age_s"] = round(max(time.time() - self.since, 0.0), 1)
        return data


class Board:
    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.error = ""  # the latest problem not tied to one resource (a config typo, a failed deploy)

    def get(self, name: str) -> Resource:
        return self.resources.setdefault(name, Resource(name))

    def update(self, name: str, **fields: object) -> None:
        resource = self.get(name)
        for key, value in fields.items():
            setattr(resource, key, value)

    def observed(self, statuses: Sequence[ResourceStatus]) -> None:
        """What the engine reports now: ready or not, and the age of the running task or pod."""
        for status in statuses:
            resource = self.get(status.name)
            resource.ready = status.ready
            if status.started_at:
                resource.since = _unix(status.started_at)
        if self.error.startswith(_AWAY):
            self.error = ""

    def away(self, reason: str) -> None:
        """The engine cannot be reached: nothing can be said to be ready."""
        for resource in self.resources.values():
            resource.ready = False
        self.error = f"{_AWAY}{reason}"

    def deployed(self, names: list[str], images: dict[str, str]) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for name in names:
            resource, image = self.get(name), images.get(name, self.get(name).image)
            # A live-updated resource stays "live" until a new image replaces what was synced into it.
            build = "live" if resource.build == "live" and resource.image == image else "ok"
            self.update(name, image=image, build=build, deploy="ok", ready=True, updated_at=now, last_error="")

    def snapshot(self) -> list[dict[str, object]]:
        return [r.to_json() for r in sorted(self.resources.values(), key=lambda r: r.name)]


def _unix(iso: str) -> float:
    # Engines write RFC 3339, Docker with nanoseconds; Python takes microseconds.
    head, _, rest = iso.rstrip("Z").partition(".")
    fraction = rest.split("+")[0].split("-")[0]
    return datetime.fromisoformat(f"{head}.{(fraction + '000000')[:6]}+00:00").timestamp()
