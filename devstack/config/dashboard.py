"""[dashboard]: the port of the web dashboard, whether `up` serves it, and where the mail view finds the sink.

    [dashboard]
    port = 10360                                   # on 127.0.0.1 only; `up --web-port` overrides it
    enabled = true                                 # `up --no-web` overrides it
    sink = "http://127.0.0.1:${SINK_HTTP_PORT}"    # the sink's HTTP API (default: the one the smoke tests use)
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from devstack.config.model import DASHBOARD_PORT, DashboardSpec, SmokeSpec
from devstack.config.reader import Table
from devstack.config.smoke import HttpInject, MailmanFlow


def read(top: Table, tests: Sequence[SmokeSpec]) -> DashboardSpec:
    if not top.has("dashboard"):
        return DashboardSpec(sink=sink_of(tests))
    table = top.table("dashboard")
    port = table.integer("port", DASHBOARD_PORT, low=1, high=65535)
    enabled = table.boolean("enabled", True)
    sink = table.string("sink", None)
    if sink is not None and urlsplit(sink).scheme not in ("http", "https"):
        raise table.error("sink", f"expected the sink's HTTP API as an http:// URL, got {sink!r}")
    table.done()
    return DashboardSpec(port=port, enabled=enabled, sink=(sink or "").rstrip("/") or sink_of(tests))


def sink_of(tests: Sequence[SmokeSpec]) -> str | None:
    """The sink's HTTP API root as the smoke tests reach it: an http-inject's `sink_stats` (…/stats) or a
    mailman-flow's `sink_url`."""
    for test in tests:
        if isinstance(test.options, HttpInject) and test.options.sink_stats:
            return test.options.sink_stats.removesuffix("/").removesuffix("/stats")
        if isinstance(test.options, MailmanFlow):
            return test.options.sink_url
    return None
