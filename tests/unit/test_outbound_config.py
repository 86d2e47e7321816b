"""The `outbound` smoke test's keys: what it reads, its defaults, and the mistakes it refuses with the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config import loader
from devstack.config.smoke import Outbound
from devstack.errors import ConfigError

BASE = '[project]\nname = "out"\nprovider = "swarm"\n[swarm]\nstack_file = "s.yml"\n[[smoke]]\nname = "o"\n' \
       'type = "outbound"\nsink_url = "http://127.0.0.1:8125"\n'


def load(tmp_path: Path, extra: str) -> Outbound:
    (tmp_path / "s.yml").write_text("services: {s: {image: x}}\n")
    (tmp_path / "devstack.toml").write_text(BASE + extra)
    options = loader.load(tmp_path / "devstack.toml", {}).smoke[0].options
    assert isinstance(options, Outbound)
    return options


def test_defaults_send_to_an_outside_domain_without_a_login(tmp_path: Path) -> None:
    options = load(tmp_path, 'port = "587"\n')
    assert (options.host, options.port, options.recipient, options.starttls) == (
        "127.0.0.1", 587, "devstack-outbound@example.com", False)
    assert options.username is None and options.password is None and options.mta == "the stack's MTA"


def test_a_login_and_starttls(tmp_path: Path) -> None:
    options = load(tmp_path, 'port = 587\nstarttls = true\nusername = "a@b.test"\npassword = "pw"\nmta = "postfix"\n')
    assert (options.username, options.password, options.starttls, options.mta) == ("a@b.test", "pw", True, "postfix")


@pytest.mark.parametrize(("extra", "message"), [
    ('port = 587\nusername = "a@b.test"\n', "smoke[0].password: give both username and password, or neither"),
    ('port = 587\nrecipient = "nobody"\n', "smoke[0].recipient: expected an e-mail address"),
    ("port = 0\n", "smoke[0].port: expected an integer from 1 to 65535"),
    ('port = 587\nstarttls = "yes"\n', "smoke[0].starttls: expected true or false"),
])
def test_mistakes_name_the_key(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, extra)
    assert str(caught.value).startswith(f"devstack.toml: {message}")
