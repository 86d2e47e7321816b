"""Times as the engines write them, read in one place (devstack/formats/timestamps.py): Docker's task and
container times (nanoseconds, Z), Kubernetes' (seconds, Z), and offsets; anything else is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from devstack.formats import timestamps


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-07T01:02:03.123456789Z", datetime(2026, 12, 7, 1, 2, 3, 123456, tzinfo=UTC)),  # Docker
    ("2026-12-07T01:02:03Z", datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC)),  # Kubernetes
    ("2026-12-07T01:02:03.5+02:00", datetime(2026, 12, 7, 1, 2, 3, 500000, tzinfo=timezone(timedelta(hours=2)))),
    ("2026-12-07T01:02:03-0130", datetime(2026, 12, 7, 1, 2, 3, tzinfo=timezone(-timedelta(hours=1, minutes=30)))),
    ("2026-12-07T01:02:03", datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC)),  # no zone: UTC
])
def test_engine_times_are_read(text: str, expected: datetime) -> None:
    assert timestamps.parse(text) == expected
    assert timestamps.unix(text) == expected.timestamp()


@pytest.mark.parametrize("text", ["", "yesterday", "2026-12-07", "2026-12-07T01:02:03Zjunk", "2026-13-07T01:02:03Z"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        timestamps.parse(text)


def test_a_unix_time_is_written_to_the_second_as_kubernetes_takes_it() -> None:
    assert timestamps.rfc3339(timestamps.unix("2026-12-07T01:02:03.9Z")) == "2026-12-07T01:02:03Z"
