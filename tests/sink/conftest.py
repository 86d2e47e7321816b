"""Fixtures that start real sinks on free ports and stop them after the test (see sinktools.py)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from devstack_sink import faults
from devstack_sink.options import SinkOptions
from sinktools import ANY_PORT, ProcessSink, SinkFactory, ThreadSink


@pytest.fixture
def make_sink() -> Iterator[SinkFactory]:
    """make_sink(rules=..., capture=..., max_size=...) starts a one-worker sink on free ports."""
    started: list[ThreadSink] = []

    def make(*rules: str, **settings: Any) -> ThreadSink:
        parsed = tuple(r for text in rules for r in faults.parse_rules(text))
        options = SinkOptions(listen=ANY_PORT, http=ANY_PORT, rules=parsed, **settings)
        started.append(ThreadSink(options))
        return started[-1]

    yield make
    for sink in started:
        sink.close()


@pytest.fixture
def sink(make_sink: SinkFactory) -> ThreadSink:
    return make_sink()


@pytest.fixture
def process_sink() -> Iterator[Callable[..., ProcessSink]]:
    started: list[ProcessSink] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ProcessSink:
        started.append(ProcessSink(*args, env=env))
        return started[-1]

    yield start
    for sink in started:
        if sink.process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                sink.stop()
