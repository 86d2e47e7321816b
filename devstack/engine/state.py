"""The daemon's view of each resource: what `devstack status` reports and the live view draws. Written only by
the reconciler (one writer), read by everyone."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime


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
    since: float = field(default_factory=time.monotonic)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("since")
        data["age_s"] = round(time.monotonic() - self.since, 1)
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
        resource.since = time.monotonic()

    def deployed(self, names: list[str], images: dict[str, str]) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for name in names:
            resource, image = self.get(name), images.get(name, self.get(name).image)
            # A live-updated resource stays "live" until a new image replaces what was synced into it.
            build = "live" if resource.build == "live" and resource.image == image else "ok"
            self.update(name, image=image, build=build, deploy="ok", ready=True, updated_at=now, last_error="")

    def snapshot(self) -> list[dict[str, object]]:
        return [r.to_json() for r in sorted(self.resources.values(), key=lambda r: r.name)]
