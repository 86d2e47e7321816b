"""Tunnels opened ahead of a rollout's first connection (tunnel.Tunnels.prepare): a preparation that reaches the
event loop after the provider closed opens nothing, so a reload or a stop mid-rollout leaves no websocket behind."""

from __future__ import annotations

import asyncio

from devstack.providers.kubernetes import tunnel


class Unreachable:
    """An API whose use would be a tunnel opened: the test fails on it."""

    def upgrade(self, *args: object) -> None:
        raise AssertionError(f"a tunnel was opened after the provider closed: {args}")


def test_a_preparation_after_the_provider_closed_opens_nothing() -> None:
    tunnels = tunnel.Tunnels(Unreachable())  # type: ignore[arg-type]
    tunnels.abort()
    asyncio.run(tunnels.prepare({("demo", "relay-7c88855bc8-jjcsx", "uid")}))
