"""/metrics in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devstack_sink import stats

PREFIX = "devstack_sink_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, help_text: str, samples: list[tuple[str, int]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    return lines + [f"{name}{labels} {value}" for labels, value in samples]


def render(totals: Mapping[str, Any], workers_alive: int, rule_hits: list[tuple[str, int]]) -> str:
    lines: list[str] = []
    for counter, help_text in stats.COUNTERS.items():
        lines += _family(f"{PREFIX}{counter}_total", "counter", help_text, [("", totals[counter])])
    for gauge, help_text in stats.GAUGES.items():
        lines += _family(f"{PREFIX}{gauge}", "gauge", help_text, [("", totals[gauge])])
    lines += _family(f"{PREFIX}workers", "gauge", "worker processes running", [("", workers_alive)])
    domains = [(f'{{domain="{_label(d)}"}}', n) for d, n in totals["domains"].items()]
    lines += _family(f"{PREFIX}recipient_domain_total", "counter", "accepted recipients by domain (top)", domains)
    hits = [(f'{{rule="{_label(rule)}"}}', n) for rule, n in rule_hits]
    lines += _family(f"{PREFIX}fault_rule_hits_total", "counter", "times each fault rule applied", hits)
    return "\n".join(lines) + "\n"
