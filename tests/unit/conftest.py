"""A throwaway project on disk: devstack.toml, an image context and a stack file, all under tmp_path."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import pytest

from devstack.config import loader
from devstack.config.model import Config
from devstack.errors import ConfigError

# The smallest valid devstack.toml for the files `project` writes; tests append tables or write their own.
MINIMAL = """
[project]
name = "demo"

[images.relay]
context = "relay"

[swarm]
stack_file = "stack.yml"
"""


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def load(self, toml: str, environ: Mapping[str, str] | None = None) -> Config:
        return loader.load(self.write("devstack.toml", toml), environ={} if environ is None else environ)

    def error(self, toml: str, environ: Mapping[str, str] | None = None) -> str:
        """The message of the ConfigError that loading `toml` raises."""
        with pytest.raises(ConfigError) as caught:
            self.load(toml, environ)
        return str(caught.value)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    made = Project(tmp_path)
    made.write("relay/Dockerfile", "FROM scratch\nCOPY relay.py /\n")
    made.write("relay/relay.py", "print('relay')\n")
    made.write("stack.yml", "services:\n  relay:\n    image: relay\n")
    return made


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread of its own running (a blocking call never stopped, a log pump never
    joined)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2
    while (leaked := [t.name for t in threading.enumerate() if t not in before]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not leaked, f"threads left running: {leaked}"


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves an asyncio task pending (fire-and-forget work nobody awaits)."""
    yield
    await asyncio.sleep(0)
    leaked = [t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert not leaked, f"tasks left pending: {leaked}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every coroutine test here is checked for asyncio tasks it leaves pending. (The hook sees the whole
    session's items, the fixture only this folder's: hence the path check.)"""
    here = Path(__file__).parent
    for item in items:
        function = getattr(item, "function", None)
        if (isinstance(item, pytest.Function) and inspect.iscoroutinefunction(function)
                and item.path.is_relative_to(here)
                and "no_leaked_tasks" not in item.fixturenames):
            item.fixturenames.append("no_leaked_tasks")
