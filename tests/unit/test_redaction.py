"""One redactor at the output boundary: a dev secret loaded with the config is scrubbed from every line the
console prints (whoever produced the line), from JSON written for programs, and from the CLI's error
boundary; the config carries the loaded values, so nothing loads them again."""

from __future__ import annotations

import io
import json

import click
import pytest

from devstack.cli import boundary
from devstack.config.secret_store import REDACTED, Redactor
from devstack.errors import DevstackError
from devstack.observe.console import Console
from tests.unit.conftest import MINIMAL, Project

SECRETS = MINIMAL + """
[secrets.canary]
length = 24

[secrets.canary-url]
template = "postgresql://app:${secret:canary}@db/app"
"""


def test_the_config_carries_its_secrets_loaded_once(project: Project) -> None:
    config = project.load(SECRETS)
    canary = config.dev_secrets["canary"].value
    assert len(canary) == 24
    assert config.dev_secrets["canary-url"].value == f"postgresql://app:{canary}@db/app"
    assert canary not in repr(config) and canary not in str(config.dev_secrets["canary"])
    assert project.load(SECRETS).dev_secrets["canary"].value == canary  # stored: the same on the next load


def test_every_line_the_console_prints_is_scrubbed(project: Project) -> None:
    canary = project.load(SECRETS).dev_secrets["canary"].value
    out = io.StringIO()
    console = Console(out, tty=False)
    console.event("relay", f"not ready: password {canary} refused")
    console.info(f"info {canary}")
    console.error(f"error {canary}")
    console.output("relay", f"build output {canary}")
    console.log_line("relay", f"log line {canary}")
    console.write(json.dumps({"text": f"json {canary}"}) + "\n")
    text = out.getvalue()
    assert canary not in text
    assert text.count(REDACTED) == 6, text


def test_the_error_boundary_scrubs_the_message(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    canary = project.load(SECRETS).dev_secrets["canary"].value

    @click.command()
    def failing() -> None:
        raise DevstackError(f"relay: not ready\n  | connecting with {canary}")

    assert boundary.run(failing, []) == 1
    err = capsys.readouterr().err
    assert canary not in err and f"connecting with {REDACTED}" in err


def test_a_value_is_scrubbed_as_written_and_as_json_writes_it() -> None:
    redact = Redactor(['pa"ss\\word', "short"])
    assert redact(json.dumps({"a": 'x pa"ss\\word y'})) == json.dumps({"a": f"x {REDACTED} y"})
    assert redact('pa"ss\\word and short') == f"{REDACTED} and {REDACTED}"
