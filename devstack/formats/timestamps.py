"""Times as engines write them: RFC 3339 (Docker with nanoseconds and a trailing Z, Kubernetes to the second),
read into aware datetimes in one place.

    parse("2026-12-07T01:02:03.123456789Z")   → datetime(2026, 12, 7, 1, 2, 3, 123456, tzinfo=UTC)
    unix("2026-12-07T01:02:03Z")              → 1796605323.0
    rfc3339(1796605323.5)                     → "2026-12-07T01:02:03Z" (to the second, as Kubernetes takes it)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:?\d\d)?")


def parse(text: str) -> datetime:
    """An RFC 3339 time; a missing zone is UTC. Python keeps microseconds: finer digits are dropped. Raises
    ValueError for anything else."""
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    day, clock, fraction, zone = match.groups()
    moment = datetime.fromisoformat(f"{day}T{clock}").replace(microsecond=int((fraction or "0")[:6].ljust(6, "0")))
    return moment.replace(tzinfo=_zone(zone))


def unix(text: str) -> float:
    return parse(text).timestamp()


def rfc3339(unix_time: float) -> str:
    return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zone(zone: str | None) -> timezone:
    if zone is None or zone in "Zz":
        return UTC
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
