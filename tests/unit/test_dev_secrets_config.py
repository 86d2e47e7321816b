"""Dev secrets in devstack.toml and stack files: `${secret:NAME}` and swarm secrets devstack provides."""

from __future__ import annotations

import json
import os
from pathlib import Path

from devstack.config import secret_store as dev_secrets
from devstack.providers.swarm import stackfile
from devstack.providers.swarm.stackfile import Inputs
from tests.unit.conftest import Project

TOML = """
[project]
name = "sec"
[secrets.inject-password]
length = 20
[swarm]
stack_file = "stack.yml"
[[smoke]]
name = "inject"
type = "http-inject"
url = "http://127.0.0.1:8000/api/inject/v1"
username = "demo"
password = "${secret:inject-password}"
payload = { envelope_sender = "a@b.test", content = "x", recipients = [{ email = "c@d.test" }] }
"""


def stored(project: str) -> dict[str, str]:
    path = Path(os.environ["XDG_STATE_HOME"]) / "devstack" / project / "secrets.json"
    data: dict[str, str] = json.loads(path.read_text())
    assert path.stat().st_mode & 0o077 == 0  # the owner's only
    return data


def test_a_secret_is_generated_once_and_interpolated(project: Project) -> None:
    project.write("stack.yml", "services:\n  relay: {image: relay}\n")
    first = project.load(TOML)
    value = stored("sec")["inject-password"]
    assert len(value) == 20
    assert first.smoke[0].options.password == value  # type: ignore[attr-defined]
    again = project.load(TOML)
    assert again.smoke[0].options.password == value  # type: ignore[attr-defined]


def test_an_undeclared_secret_is_named(project: Project) -> None:
    project.write("stack.yml", "services:\n  relay: {image: relay}\n")
    message = project.error(TOML.replace("${secret:inject-password}", "${secret:nope}"))
    assert message == ("devstack.toml:13: smoke[0].password: no dev secret 'nope': declare it as [secrets.nope] "
                       "in devstack.toml")


def test_an_empty_stack_secret_named_after_a_dev_secret_becomes_external(tmp_path: Path) -> None:
    path = tmp_path / "stack.yml"
    path.write_text("services:\n  relay:\n    image: relay\n    secrets: [inject-password, other]\n"
                    "secrets:\n  inject-password: {}\n  other:\n    file: ./other.txt\n")
    inputs = Inputs(project="sec", variables={}, images={}, secrets={"inject-password": "sec_inject-password_abc"})
    rendered = stackfile.render(path, "stack.yml", inputs)
    secrets = rendered.document["secrets"]
    # External: devstack creates and labels the swarm secret itself, the stack file only refers to it.
    assert secrets["inject-password"] == {"external": True, "name": "sec_inject-password_abc"}
    assert secrets["other"]["labels"] == {"dev.devstack.project": "sec"}
    assert stackfile.used_dev_secrets(rendered.document, inputs.secrets) == ["inject-password"]


TEMPLATED = TOML + """
[secrets.database-url]
template = "postgresql://app:${secret:inject-password}@db/app"
key = "url"
"""


def test_a_template_secret_is_composed_of_the_others_and_never_stored(project: Project) -> None:
    project.write("stack.yml", "services:\n  relay: {image: relay}\n")
    config = project.load(TEMPLATED)
    password = stored("sec")["inject-password"]
    assert "database-url" not in stored("sec")  # derived: nothing of its own to keep
    loaded = dev_secrets.load("sec", config.secrets)
    assert loaded["database-url"].value == f"postgresql://app:{password}@db/app"
    assert loaded["database-url"].key == "url"
    assert password not in repr(loaded["database-url"]) and password not in str(loaded["database-url"])


def test_a_template_with_a_length_is_refused(project: Project) -> None:
    project.write("stack.yml", "services:\n  relay: {image: relay}\n")
    message = project.error(TEMPLATED.replace('key = "url"', 'key = "url"\nlength = 12'))
    assert message == ("devstack.toml: secrets.database-url.template: a template's value is composed, not "
                       "generated: drop 'length' and 'alphabet'")
