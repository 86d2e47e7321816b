"""[resources.NAME], [[local]] and [[commands]] in devstack.toml: what a valid file becomes, and one message naming
file and key for each mistake (a cycle, a self-dependency, an unknown name)."""

from __future__ import annotations

import io

import pytest

from devstack.config import resources
from devstack.config.model import Link, Readiness, ResourceSpec, ShellCommand
from devstack.engine.converge import run_once
from devstack.errors import ConfigError
from devstack.observe.console import Console
from tests.unit.conftest import MINIMAL, Project
from tests.unit.memory import Engine, MemoryBuilder, MemoryProvider


def test_resource_settings_are_read(project: Project) -> None:
    config = project.load(MINIMAL + """
[resources.relay]
depends_on = ["sink"]
trigger = "manual"
links = [{ name = "inject API", url = "http://127.0.0.1:8000/api/inject/v1" }]
""")
    assert config.resources["relay"] == ResourceSpec(
        "relay", depends_on=("sink",), trigger="manual",
        links=(Link("inject API", "http://127.0.0.1:8000/api/inject/v1"),), key="resources.relay")
    assert config.resource("sink") == ResourceSpec("sink")  # no table: the defaults


def test_a_file_without_the_sections_has_none(project: Project) -> None:
    config = project.load(MINIMAL)
    assert (dict(config.resources), config.local, config.commands) == ({}, (), ())


def test_local_resources_and_commands_are_read(project: Project) -> None:
    project.write("policy/init.lua", "")
    config = project.load(MINIMAL + """
[[local]]
name = "policy-check"
command = "luac5.4 -p policy/*.lua"
deps = ["policy/**/*.lua"]
depends_on = ["relay"]
trigger = "manual"
env = { LUA_PATH = "policy/?.lua" }

[[local]]
name = "docs"
serve = ["python3", "-m", "http.server", "9000"]
workdir = "policy"
readiness = { http = "http://127.0.0.1:9000/", timeout = 5 }

[[local]]
name = "mock"
serve = "nc -l -p 2500"
readiness = { tcp = "2500" }

[[commands]]
name = "queues"
resource = "relay"
exec = ["kcli", "queue-summary"]
description = "KumoMTA's queues"

[[commands]]
name = "hello"
resource = "policy-check"
run = "echo hello"
""")
    check, docs, mock = config.local
    assert (check.readiness, docs.readiness, mock.readiness) == (
        None, Readiness(http="http://127.0.0.1:9000/", timeout_s=5.0), Readiness(tcp=2500))
    assert mock.readiness is not None and mock.readiness.target == "127.0.0.1:2500"
    assert check.command == ShellCommand(("sh", "-c", "luac5.4 -p policy/*.lua"), "luac5.4 -p policy/*.lua")
    assert (check.serve, check.deps, check.workdir) == (None, (str(project.root / "policy/**/*.lua"),), project.root)
    assert dict(check.env) == {"LUA_PATH": "policy/?.lua"}
    assert config.resource("policy-check") == ResourceSpec("policy-check", depends_on=("relay",), trigger="manual",
                                                           key="local[0]")
    assert docs.command is None and docs.serve is not None and docs.serve.argv[-1] == "9000"
    assert docs.workdir == project.root / "policy"
    queues, hello = config.commands
    assert (queues.resource, queues.exec, queues.run, queues.description) == (
        "relay", ShellCommand(("kcli", "queue-summary"), "kcli queue-summary"), None, "KumoMTA's queues")
    assert hello.run is not None and hello.run.argv == ("sh", "-c", "echo hello") and hello.workdir == project.root


def test_a_local_resource_may_take_its_settings_from_resources(project: Project) -> None:
    config = project.load(MINIMAL + """
[resources.gen]
depends_on = ["relay"]

[[local]]
name = "gen"
command = "true"
trigger = "manual"
""")
    assert config.resource("gen") == ResourceSpec("gen", depends_on=("relay",), trigger="manual",
                                                  key="resources.gen")


@pytest.mark.parametrize(("extra", "message"), [
    ('[resources.relay]\ndepends_on = ["relay"]',
     "devstack.toml: resources.relay.depends_on[0]: 'relay' cannot depend on itself"),
    ('[resources.a]\ndepends_on = ["b"]\n[resources.b]\ndepends_on = ["c"]\n[resources.c]\ndepends_on = ["a"]',
     "devstack.toml: resources.a.depends_on: dependencies in a cycle: a → b → c → a"),
    ('[resources.relay]\ndepends_on = ["gen"]\n[[local]]\nname = "gen"\ncommand = "true"\ndepends_on = ["relay"]',
     "devstack.toml: resources.relay.depends_on: dependencies in a cycle: relay → gen → relay"),
    ('[resources.relay]\ntrigger = "sometimes"',
     "devstack.toml: resources.relay.trigger: expected one of 'auto', 'manual', got 'sometimes'"),
    ('[resources.relay]\ndepends = ["x"]',
     "devstack.toml: resources.relay.depends: unknown key (did you mean 'depends_on'?)"),
    ('[resources.Relay]\ntrigger = "auto"',
     "devstack.toml: resources.Relay: expected a resource name: lower-case letters, digits, '-', '_' or '.' "
     "(at most 63), got 'Relay'"),
    ('[resources.relay]\nlinks = [{ name = "ui", url = "127.0.0.1:80" }]',
     "devstack.toml: resources.relay.links[0].url: expected an absolute URL such as 'http://127.0.0.1:8480/', "
     "got '127.0.0.1:80'"),
    ('[[local]]\nname = "gen"',
     "devstack.toml: local[0].command: is required: the command to run (or `serve`, a command kept running)"),
    ('[[local]]\nname = "gen"\ncommand = []',
     "devstack.toml: local[0].command: expected a command: a string (run by sh -c) or a list of strings, got []"),
    ('[[local]]\nname = "gen"\ncommand = "true"\n[[local]]\nname = "gen"\ncommand = "false"',
     "devstack.toml: local[1].name: duplicate name 'gen'"),
    ('[[local]]\nname = "gen"\ncommand = "true"\nworkdir = "nowhere"',
     "devstack.toml: local[0].workdir: directory"),
    ('[[local]]\nname = "gen"\ncommand = "true"\ntrigger = "manual"\n[resources.gen]\ntrigger = "auto"\n'
     'links = [{ name = "x", url = "http://127.0.0.1/" }]', None),
    ('[[local]]\nname = "gen"\ncommand = "true"\ntrigger = "manual"\n[resources.gen]\ntrigger = "manual"',
     "devstack.toml: local[0].trigger: set here and in [resources.gen]: keep one"),
    ('[[local]]\nname = "gen"\ncommand = "true"\nreadiness = { tcp = 9000 }',
     "devstack.toml: local[0].readiness: checks a `serve` command, and this local resource has none"),
    ('[[local]]\nname = "gen"\nserve = "true"\nreadiness = { tcp = 9000, http = "http://127.0.0.1:9000/" }',
     "devstack.toml: local[0].readiness.http: expected exactly one of `http` (a URL on this machine that answers "
     "below 400) and `tcp`"),
    ('[[local]]\nname = "gen"\nserve = "true"\nreadiness = { http = "http://example.test:9000/" }',
     "devstack.toml: local[0].readiness.http: expected an http:// URL on this machine (127.0.0.1, localhost or "
     "[::1]), got 'http://example.test:9000/'"),
    ('[[local]]\nname = "gen"\nserve = "true"\nreadiness = { tcp = 0 }',
     "devstack.toml: local[0].readiness.tcp: expected an integer from 1 to 65535, got 0"),
    ('[[local]]\nname = "gen"\nserve = "true"\nreadiness = { tcp = 9000, timout = 3 }',
     "devstack.toml: local[0].readiness.timout: unknown key (did you mean 'timeout'?)"),
    ('[[commands]]\nname = "x"\nresource = "relay"',
     "devstack.toml: commands[0].run: expected exactly one of `run` (a command on this machine) and `exec`"),
    ('[[commands]]\nname = "x"\nresource = "relay"\nrun = "a"\nexec = "b"',
     "devstack.toml: commands[0].run: expected exactly one of"),
    ('[[commands]]\nname = "x"\nresource = "relay"\nrun = "a"\n[[commands]]\nname = "x"\nresource = "relay"\n'
     'run = "b"', "devstack.toml: commands[1].name: duplicate name 'x'"),
])
def test_mistakes_name_file_and_key(project: Project, extra: str, message: str | None) -> None:
    if message is None:  # the one valid case among them: settings split between the two places
        assert project.load(MINIMAL + extra).resource("gen").trigger == "manual"
        return
    assert project.error(MINIMAL + extra).startswith(message)


def test_names_are_checked_against_the_deploy(project: Project) -> None:
    config = project.load(MINIMAL + """
[resources.relay]
depends_on = ["sink", "gen"]

[[local]]
name = "gen"
command = "true"

[[commands]]
name = "hello"
resource = "relay"
run = "true"
""")
    resources.check_names(config, ["relay", "sink"])  # all known: no error
    with pytest.raises(ConfigError) as caught:
        resources.check_names(config, ["relay", "snk"])
    assert str(caught.value) == ("devstack.toml: resources.relay.depends_on[0]: no resource named 'sink' "
                                 "(the resources: gen, relay, snk)")
    assert caught.value.exit_code == 2
    with pytest.raises(ConfigError, match=r"resources.relay: no resource of that name"):
        resources.check_names(config, ["sink"])
    with pytest.raises(ConfigError, match=r"local\[0\].name: 'gen' is a resource of the deploy already"):
        resources.check_names(config, ["relay", "sink", "gen"])


def test_a_command_of_an_unknown_resource_is_named(project: Project) -> None:
    config = project.load(MINIMAL + '[[commands]]\nname = "x"\nresource = "mailman"\nexec = "true"')
    with pytest.raises(ConfigError, match=r"commands\[0\].resource: no resource named 'mailman'"):
        resources.check_names(config, ["relay"])


def test_a_name_unknown_to_the_deploy_stops_ci_before_anything_is_applied(project: Project) -> None:
    config = project.load(MINIMAL + '[resources.web]\ndepends_on = ["databse"]\n')
    engine = Engine()
    with pytest.raises(ConfigError) as caught:
        run_once(config, MemoryProvider(engine, ("web", "database")), Console(io.StringIO(), tty=False), 30,
                 builder=MemoryBuilder(engine))
    assert str(caught.value) == ("devstack.toml: resources.web.depends_on[0]: no resource named 'databse' "
                                 "(the resources: database, web)")
    assert "apply" not in engine.calls and "build" not in engine.calls
