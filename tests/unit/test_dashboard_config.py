"""[dashboard] in devstack.toml and `up`'s --web-port / --no-web: what they become, and one clear message for each
mistake (exit 2)."""

from __future__ import annotations

import pytest

from devstack.cli import boundary, main
from devstack.config.model import DASHBOARD_PORT
from devstack.errors import ConfigError
from tests.unit.conftest import MINIMAL, Project
from tests.unit.test_config import PAYLOAD, smoke, toml


def test_the_defaults_are_on_at_devstacks_own_port_with_no_sink(project: Project) -> None:
    dashboard = project.load(MINIMAL).dashboard
    assert (dashboard.port, dashboard.enabled, dashboard.sink) == (DASHBOARD_PORT, True, None)
    assert DASHBOARD_PORT == 10360


def test_the_sink_defaults_to_the_one_the_smoke_tests_reach(project: Project) -> None:
    text = smoke(f'type = "http-inject"\nurl = "http://127.0.0.1:8000/api/inject/v1"\npayload = {PAYLOAD}\n'
                 'sink_stats = "http://127.0.0.1:8025/stats"')
    assert project.load(text).dashboard.sink == "http://127.0.0.1:8025"


def test_every_key_is_read(project: Project) -> None:
    text = toml(extra='[dashboard]\nport = "${WEB}"\nenabled = false\nsink = "http://127.0.0.1:9025/"\n\n'
                      '[variables]\nWEB = "10400"')
    dashboard = project.load(text).dashboard
    assert (dashboard.port, dashboard.enabled, dashboard.sink) == (10400, False, "http://127.0.0.1:9025")


@pytest.mark.parametrize(("body", "message"), [
    ("port = 70000", "dashboard.port: expected an integer from 1 to 65535, got 70000"),
    ('port = "web"', "dashboard.port: expected an integer, got str 'web'"),
    ('sink = "127.0.0.1:8025"', "dashboard.sink: expected the sink's HTTP API as an http:// URL, got '127.0.0.1:8025'"),
    ('enabled = "yes"', "dashboard.enabled: expected true or false, got str 'yes'"),
    ("prot = 1", "dashboard.prot: unknown key"),
])
def test_mistakes_name_the_key(project: Project, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        project.load(toml(extra=f"[dashboard]\n{body}\n"))
    assert str(caught.value).startswith(f"devstack.toml: {message}")


def test_no_web_and_a_web_port_together_are_a_usage_error(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    path = project.write("devstack.toml", MINIMAL)
    code = boundary.run(main.cli, ["-f", str(path), "up", "--no-web", "--web-port", "10400"])
    assert code == 2
    assert capsys.readouterr().err == "error: --no-web and --web-port contradict each other: give one of them\n"
