"""What a user sees when devstack.toml (or -f) is wrong: exit code 2 and one line naming file, key and expectation;
no traceback, no crash report, and no Docker engine needed, because the config is loaded before anything runs."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import pytest

import devstack.images.docker_engine
from devstack.cli import boundary, global_options, main
from devstack.cli.session import Session
from tests.unit.conftest import Project

BAD_CONTEXT = ('[project]\nname = "demo"\n[images.relay]\ncontext = "stacks/demo/relayy"\n'
               '[swarm]\nstack_file = "stack.yml"\n')
MESSAGE = "devstack.toml: images.relay.context: directory 'stacks/demo/relayy' does not exist"


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Any attempt to reach Docker, or any crash report, fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the Docker engine was contacted")

    monkeypatch.setattr(devstack.images.docker_engine, "connect", refuse)
    monkeypatch.setattr("docker.from_env", refuse)
    crashes = tmp_path / "crash-reports"
    crashes.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(crashes))
    return crashes


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = boundary.run(main.cli, args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", [["ci"], ["ci", "--timeout", "5"], ["up"], ["down"], ["down", "--volumes"],
                                     ["status"], ["status", "--json"], ["smoke"], ["base-image"]])
def test_config_error_is_one_line_and_exit_2(project: Project, capsys: pytest.CaptureFixture[str],
                                             command: list[str], no_engine: Path) -> None:
    path = project.write("devstack.toml", BAD_CONTEXT)
    code, out, err = run(["-f", str(path), *command], capsys)
    assert (code, out, err) == (2, "", f"error: {MESSAGE}\n")
    assert list(no_engine.iterdir()) == []


@pytest.mark.parametrize("command", [["ci"], ["up", "--timeout", "5"], ["down"], ["status"], ["smoke"],
                                     ["trigger", "relay"]])
@pytest.mark.parametrize("flag", ["-f", "--file"])
def test_global_options_after_the_subcommand(project: Project, capsys: pytest.CaptureFixture[str],
                                             command: list[str], flag: str) -> None:
    """`devstack ci -f other.toml`, as Tilt and Skaffold users type it: the same file is read as with `-f` first."""
    path = project.write("other.toml", BAD_CONTEXT)
    expected = (2, "", f"error: {MESSAGE.replace('devstack.toml', 'other.toml')}\n")
    assert run([*command, flag, str(path)], capsys) == expected
    assert run([*command, flag, str(path), "--allow-context", "kind-x"], capsys) == expected


def test_a_subcommand_keeps_its_own_short_flag(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    """`devstack logs -f` follows, as in Tilt and docker; the file is `--file` there (or `-f` before `logs`)."""
    path = project.write("other.toml", BAD_CONTEXT)
    expected = (2, "", f"error: {MESSAGE.replace('devstack.toml', 'other.toml')}\n")
    assert run(["logs", "--file", str(path), "-f"], capsys) == expected
    assert run(["-f", str(path), "logs", "-f"], capsys) == expected


def test_the_later_global_option_wins(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    first = project.write("first.toml", BAD_CONTEXT)
    second = project.write("second.toml", BAD_CONTEXT)
    assert run(["-f", str(first), "status", "-f", str(second)], capsys)[2].startswith("error: second.toml:")


def test_the_file_is_found_from_a_subfolder(project: Project, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    project.write("devstack.toml", BAD_CONTEXT)
    monkeypatch.chdir(project.write("stacks/demo/notes.txt", "").parent)
    assert run(["ci"], capsys) == (2, "", f"error: {MESSAGE}\n")


def test_no_file_anywhere(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["ci"], capsys)
    assert (code, out) == (2, "")
    assert err == f"error: no devstack.toml in {tmp_path} or its parents (use -f/--file to name one)\n"


def test_f_pointing_nowhere(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["-f", "nowhere.toml", "status"], capsys) == (2, "", "error: -f/--file: nowhere.toml: no such file\n")


@pytest.mark.parametrize(("files", "message"), [
    ({"devstack.toml": '[project]\nname = "demo'}, "devstack.toml:2: invalid TOML: "),
    ({"devstack.toml": BAD_CONTEXT, ".env": "A=1\nexport\n"}, ".env:2: expected KEY=VALUE, got 'export'"),
    ({"devstack.toml": BAD_CONTEXT.replace("relayy", "${RELAY_DIR}")}, "devstack.toml:4: images.relay.context: "
                                                                        "variable 'RELAY_DIR' is not set"),
])
def test_other_config_errors(project: Project, capsys: pytest.CaptureFixture[str], files: dict[str, str],
                             message: str) -> None:
    for rel, text in files.items():
        project.write(rel, text)
    code, out, err = run(["-f", str(project.root / "devstack.toml"), "ci"], capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {message}")
    assert "Traceback" not in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["ci", "--timeout", "0"], capsys)
    assert code == 2
    assert "Invalid value for '--timeout'" in err
    assert run(["deploy"], capsys)[0] == 2


def test_a_file_that_is_not_utf8(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    (project.root / "binary.toml").write_bytes(b'[project]\nname = "\xff"\n')
    assert run(["-f", str(project.root / "binary.toml"), "up"], capsys) == (
        2, "", "error: binary.toml:2: not UTF-8: byte 0xff\n")


def test_the_installed_command(project: Project, tmp_path: Path) -> None:
    """The console script end to end, with an engine address that cannot answer."""
    project.write("devstack.toml", BAD_CONTEXT)
    devstack = Path(sys.executable).parent / "devstack"
    env = {**os.environ, "DOCKER_HOST": "tcp://127.0.0.1:9", "TMPDIR": str(tmp_path / "crash-reports")}
    result = subprocess.run([str(devstack), "ci"], cwd=project.root, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"error: {MESSAGE}\n")


def test_every_global_option_is_one_declaration_and_a_session_field() -> None:
    """Adding a global option is one Global(...) line: the group, every subcommand and `up --detach` follow."""
    session = Session()
    for option in global_options.GLOBALS:
        assert hasattr(session, option.attribute), option.attribute
        setattr(session, option.attribute, "x")
        ctx = click.Context(main.cli)
        for name in main.cli.list_commands(ctx):  # each command's module is imported on first use
            command = main.cli.get_command(ctx, name)
            assert command is not None, name
            if name not in ("sink", "init"):  # the sink parses its own flags; init names no config
                assert any(option.flags[-1] in p.opts for p in command.params), (name, option.flags)
    assert list(global_options.argv(session)) == [arg for o in global_options.GLOBALS for arg in (o.flags[-1], "x")]


@pytest.mark.parametrize("where", ["before", "after"])
def test_kube_context_on_a_swarm_project_is_a_usage_error(project: Project, capsys: pytest.CaptureFixture[str],
                                                          where: str) -> None:
    path = project.write("devstack.toml", '[project]\nname = "demo"\n[swarm]\nstack_file = "stack.yml"\n')
    project.write("stack.yml", "services: {}\n")
    flags = ["--kube-context", "devstack-test", "-f", str(path)]
    code, out, err = run([*flags, "status"] if where == "before" else ["status", *flags], capsys)
    assert code == 2 and out == ""
    assert err == ("error: --kube-context devstack-test: devstack.toml deploys with provider 'swarm', not to "
                   "Kubernetes (it has no [kubernetes] table)\n")


def test_ci_loads_neither_the_daemon_nor_the_web_server() -> None:
    """A command's module is imported when it runs: `ci` does not pay for `up`'s daemon and aiohttp at start."""
    probe = ("import sys, click\nfrom devstack.cli import main\n"
             "main.cli.get_command(click.Context(main.cli), 'ci')\n"
             "print(sorted(m for m in ('aiohttp', 'devstack.web', 'devstack.engine.daemon') if m in sys.modules))\n"
             "main.cli.get_command(click.Context(main.cli), 'up')\n"
             "print('aiohttp' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.splitlines() == ["[]", "True"]
