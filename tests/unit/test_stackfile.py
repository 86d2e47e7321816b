"""Rendering a stack file: variables, image injection, ownership labels everywhere, absolute paths, forwards, and a
digest that changes exactly when the deployment would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack import labels
from devstack.config import loader
from devstack.config.model import Forward
from devstack.errors import ConfigError
from devstack.providers.swarm import stackfile
from devstack.providers.swarm.stackfile import Inputs, Rendered

REPO = Path(__file__).resolve().parents[2]
OWNED = {labels.PROJECT: "demo"}


def render(tmp_path: Path, text: str, *, images: dict[str, str] | None = None, variables: dict[str, str] | None = None,
           forwards: tuple[Forward, ...] = (), project: str = "demo") -> Rendered:
    path = tmp_path / "stack.yml"
    path.write_text(text)
    inputs = Inputs(project=project, variables=variables or {}, images=images or {}, forwards=forwards)
    return stackfile.render(path, "stack.yml", inputs)


def error(tmp_path: Path, text: str, **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        render(tmp_path, text, **kwargs)
    return str(caught.value)


# --- image injection --------------------------------------------------------------------------------------------------


def test_a_service_compose_would_build_runs_the_image_named_after_it(tmp_path: Path) -> None:
    text = """
services:
  web: {build: ./web}
  api: {build: {context: api}, image: "team/api"}
  other: {build: ./other}
"""
    services = render(tmp_path, text, images={"web": "web:0123", "team/api": "team/api:4567"}).document["services"]
    assert (services["web"]["image"], "build" in services["web"]) == ("web:0123", False)
    assert services["api"]["image"] == "team/api:4567"
    assert "image" not in services["other"]  # no devstack image of that name: left as written



def test_devstack_images_are_rewritten_and_others_left_alone(tmp_path: Path) -> None:
    text = """
services:
  plain: {image: relay}
  tagged: {image: "relay:1.0"}
  digested: {image: "relay@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"}
  official: {image: "docker.io/library/relay:2"}
  legacy: {image: "index.docker.io/library/relay"}
  library: {image: "library/relay"}
  registry: {image: "localhost:5000/sink:dev"}
  postgres: {image: "postgres:16"}
  lookalike: {image: relay-extra}
  namespaced: {image: other/relay}
  registry_elsewhere: {image: "localhost:5001/sink"}
  built_elsewhere: {build: .}
"""
    images = {"relay": "relay:0123456789abcdef", "localhost:5000/sink": "localhost:5000/sink:fedcba9876543210"}
    services = render(tmp_path, text, images=images).document["services"]
    assert {name: s.get("image") for name, s in services.items()} == {
        "plain": "relay:0123456789abcdef", "tagged": "relay:0123456789abcdef", "digested": "relay:0123456789abcdef",
        "official": "relay:0123456789abcdef", "legacy": "relay:0123456789abcdef", "library": "relay:0123456789abcdef",
        "registry": "localhost:5000/sink:fedcba9876543210", "postgres": "postgres:16", "lookalike": "relay-extra",
        "namespaced": "other/relay", "registry_elsewhere": "localhost:5001/sink", "built_elsewhere": None}


# --- labels -----------------------------------------------------------------------------------------------------------


def test_services_get_container_and_service_labels_in_either_form(tmp_path: Path) -> None:
    text = """
services:
  bare: {image: x}
  as_dict:
    image: x
    labels: {team: mail}
    deploy: {replicas: 2, labels: {tier: edge}}
  as_list:
    image: x
    labels: ["team=mail", "flag"]
    deploy: {labels: ["tier=edge"]}
  null_deploy:
    image: x
    deploy:
"""
    rendered = render(tmp_path, text)
    services = rendered.document["services"]
    digest = {labels.DIGEST: rendered.digest}
    assert services["bare"]["labels"] == OWNED
    assert services["bare"]["deploy"] == {"labels": {**OWNED, **digest}}
    assert services["as_dict"]["labels"] == {"team": "mail", **OWNED}
    assert services["as_dict"]["deploy"] == {"replicas": 2, "labels": {"tier": "edge", **OWNED, **digest}}
    assert services["as_list"]["labels"] == {"team": "mail", "flag": "", **OWNED}
    assert services["as_list"]["deploy"]["labels"] == {"tier": "edge", **OWNED, **digest}
    assert services["null_deploy"]["deploy"]["labels"] == {**OWNED, **digest}


def test_networks_volumes_configs_and_secrets_are_labelled_unless_external(tmp_path: Path) -> None:
    text = """
services:
  app:
    image: x
    networks: [front]
networks:
  front: {driver: overlay, labels: ["keep=1"]}
  shared: {external: true}
  named_shared: {external: {name: corp}}
volumes:
  data:
  spool: {labels: {keep: "1"}}
  outside: {external: true}
configs:
  conf: {file: ./app.conf}
  given: {external: true}
secrets:
  key: {file: secrets/key.pem}
"""
    document = render(tmp_path, text).document
    assert document["networks"] == {
        "front": {"driver": "overlay", "labels": {"keep": "1", **OWNED}},
        "shared": {"external": True}, "named_shared": {"external": {"name": "corp"}}}
    assert document["volumes"] == {"data": {"labels": OWNED}, "spool": {"labels": {"keep": "1", **OWNED}},
                                   "outside": {"external": True}}
    assert document["configs"] == {"conf": {"file": str(tmp_path / "app.conf"), "labels": OWNED},
                                   "given": {"external": True}}
    assert document["secrets"] == {"key": {"file": str(tmp_path / "secrets/key.pem"), "labels": OWNED}}


def test_the_implicit_default_network_is_declared_and_labelled(tmp_path: Path) -> None:
    document = render(tmp_path, "services:\n  a: {image: x}\n  b: {image: y, networks: [back]}\n"
                                "networks:\n  back:\n").document
    assert document["networks"] == {"back": {"labels": OWNED}, "default": {"labels": OWNED}}


def test_a_declared_default_network_is_labelled_unless_external(tmp_path: Path) -> None:
    ours = render(tmp_path, "services:\n  a: {image: x}\nnetworks:\n  default: {driver: overlay}\n").document
    assert ours["networks"]["default"] == {"driver": "overlay", "labels": OWNED}
    theirs = render(tmp_path, "services:\n  a: {image: x}\nnetworks:\n  default: {external: true}\n").document
    assert theirs["networks"]["default"] == {"external": True}


def test_no_default_network_when_no_service_uses_it(tmp_path: Path) -> None:
    document = render(tmp_path, "services:\n  a: {image: x, networks: {back: {}}}\nnetworks:\n  back: {}\n").document
    assert set(document["networks"]) == {"back"}


# --- paths ------------------------------------------------------------------------------------------------------------


def test_env_files_become_absolute(tmp_path: Path) -> None:
    text = "services:\n  a: {image: x, env_file: relay.env}\n  b: {image: x, env_file: [../common.env, /etc/b.env]}\n"
    services = render(tmp_path, text).document["services"]
    assert services["a"]["env_file"] == str(tmp_path / "relay.env")
    assert services["b"]["env_file"] == [str(tmp_path.parent / "common.env"), "/etc/b.env"]


# --- forwards ---------------------------------------------------------------------------------------------------------


def test_forwards_are_published_in_host_mode(tmp_path: Path) -> None:
    text = "services:\n  relay: {image: x}\n  sink: {image: y, ports: []}\n"
    services = render(tmp_path, text, forwards=(Forward("relay", 8000, 80), Forward("sink", 2525, 25))).document[
        "services"]
    assert services["relay"]["ports"] == [{"target": 80, "published": 8000, "protocol": "tcp", "mode": "host"}]
    assert services["sink"]["ports"] == [{"target": 25, "published": 2525, "protocol": "tcp", "mode": "host"}]


@pytest.mark.parametrize("port", ['{target: 80, published: 8000}', '{target: 80, published: "8000"}', '"8000:80"',
                                  '"127.0.0.1:8000:80/tcp"', '"8000:80/udp"'])
def test_an_already_published_port_is_not_added_again(tmp_path: Path, port: str) -> None:
    text = f"services:\n  relay:\n    image: x\n    ports:\n      - {port}\n"
    ports = render(tmp_path, text, forwards=(Forward("relay", 8000, 80),)).document["services"]["relay"]["ports"]
    assert ports == [yaml.safe_load(port)]


@pytest.mark.parametrize("ports", ["", "\n      - 8000", '\n      - {target: 80, published: "9000-9010"}'],
                         ids=["null", "container port only", "range"])
def test_forward_next_to_other_port_forms(tmp_path: Path, ports: str) -> None:
    text = f"services:\n  relay:\n    image: x\n    ports:{ports}\n"
    published = render(tmp_path, text, forwards=(Forward("relay", 8000, 80),)).document["services"]["relay"]["ports"]
    assert published[-1] == {"target": 80, "published": 8000, "protocol": "tcp", "mode": "host"}


def test_forward_to_an_unknown_service(tmp_path: Path) -> None:
    forwards = (Forward("relay", 8000, 80), Forward("mx", 2525, 25))
    message = error(tmp_path, "services:\n  relay: {image: x}\n  sink: {image: y}\n", forwards=forwards)
    assert message == "devstack.toml: forwards[1].resource: no service 'mx' in stack.yml (services: relay, sink)"


# --- variables --------------------------------------------------------------------------------------------------------


def test_variables_are_substituted(tmp_path: Path) -> None:
    text = ("services:\n  relay:\n    image: ${IMAGE:-relay}\n    environment:\n      USER: $USER\n"
            "      PRICE: $$5\n    ports:\n      - target: 80\n        published: ${PORT}\n")
    relay = render(tmp_path, text, variables={"USER": "demo", "PORT": "8000"},
                   images={"relay": "relay:abc"}).document["services"]["relay"]
    assert relay["image"] == "relay:abc"
    assert relay["environment"] == {"USER": "demo", "PRICE": "$5"}
    # A canonical integer stays a number, as if written in: `docker stack deploy` insists on it for ports.
    assert relay["ports"] == [{"target": 80, "published": 8000}]


def test_comment_lines_are_not_substituted(tmp_path: Path) -> None:
    rendered = render(tmp_path, "# needs ${NOTHING_SET} here\nservices:\n  a:\n    # $ alone\n    image: x\n")
    assert rendered.services == ("a",)


def test_an_unset_variable_names_the_file_line_and_key(tmp_path: Path) -> None:
    message = error(tmp_path, "# set ${PASSWORD} in .env\nservices:\n  relay:\n    image: x\n    environment:\n"
                              "      PASSWORD: ${PASSWORD}\n")
    assert message == ("stack.yml:6: services.relay.environment.PASSWORD: variable 'PASSWORD' is not set (set it in "
                       "the environment, .env or [variables], or give a default: ${PASSWORD:-default})")


def test_a_bad_dollar_names_the_file_line_and_key(tmp_path: Path) -> None:
    message = error(tmp_path, "services:\n  relay:\n    image: x\n    command: echo $ 5\n")
    assert message == "stack.yml:4: services.relay.command: invalid '$' at '$ 5' (write $$ for a literal $)"


def test_only_canonical_integers_become_numbers(tmp_path: Path) -> None:
    text = "services:\n  relay:\n    image: x\n    environment:\n      PIN: ${PIN}\n      N: ${N}\n      S: '42'\n"
    env = render(tmp_path, text, variables={"PIN": "0042", "N": "42"}).document["services"]["relay"]["environment"]
    assert env == {"PIN": "0042", "N": 42, "S": "42"}  # a leading zero is kept; a literal string stays a string


def test_a_value_with_yaml_syntax_stays_one_value(tmp_path: Path) -> None:
    text = "services:\n  relay:\n    image: x\n    environment:\n      PASSWORD: ${PASSWORD}\n"
    relay = render(tmp_path, text, variables={"PASSWORD": "pa ss #1"}).document["services"]["relay"]
    assert relay["environment"]["PASSWORD"] == "pa ss #1"


# --- malformed files --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("", "stack.yml: services: expected a compose file with at least one service"),
    ("- relay\n", "stack.yml: services: expected a compose file with at least one service"),
    ("version: '3.8'\n", "stack.yml: services: expected a compose file with at least one service"),
    ("services: {}\n", "stack.yml: services: expected a compose file with at least one service"),
    ("services: [relay]\n", "stack.yml: services: expected a compose file with at least one service"),
    ("services:\n  relay: relay:1.0\n", "stack.yml: services.relay: expected a mapping"),
    ("services:\n  relay: {image: x}\nnetworks: [front]\n", "stack.yml: networks: expected a mapping"),
    ("services:\n  relay: {image: x}\nvolumes:\n  data: /srv/data\n", "stack.yml: volumes.data: expected a mapping"),
])
def test_malformed_compose_file(tmp_path: Path, text: str, message: str) -> None:
    assert error(tmp_path, text) == message


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    message = error(tmp_path, "services:\n  relay:\n    image: [x\n")
    assert message.startswith("stack.yml:4: invalid YAML: ")
    assert "line 4" in message


# --- the digest -------------------------------------------------------------------------------------------------------

STACK = "services:\n  relay:\n    image: relay\n    environment:\n      MODE: ${MODE}\n"


def digest(tmp_path: Path, **kwargs: Any) -> str:
    args: dict[str, Any] = {"images": {"relay": "relay:aaa"}, "variables": {"MODE": "dev"}, **kwargs}
    return render(tmp_path, STACK, **args).digest


def test_digest_is_stable(tmp_path: Path) -> None:
    first = render(tmp_path, STACK, variables={"MODE": "dev"})
    second = render(tmp_path, STACK, variables={"MODE": "dev"})
    assert first.digest == second.digest
    assert first.text() == second.text()
    assert yaml.safe_load(first.text()) == first.document


@pytest.mark.parametrize("change", [
    {"images": {"relay": "relay:bbb"}},
    {"variables": {"MODE": "prod"}},
    {"project": "other"},
    {"forwards": (Forward("relay", 8000, 80),)},
], ids=["image tag", "variable", "project", "forward"])
def test_digest_changes_with_an_input(tmp_path: Path, change: dict[str, Any]) -> None:
    assert digest(tmp_path, **change) != digest(tmp_path)


def test_digest_changes_with_the_file(tmp_path: Path) -> None:
    before = digest(tmp_path)
    (tmp_path / "stack.yml").write_text(STACK + "    deploy: {replicas: 2}\n")
    inputs = Inputs(project="demo", variables={"MODE": "dev"}, images={"relay": "relay:aaa"})
    assert stackfile.render(tmp_path / "stack.yml", "stack.yml", inputs).digest != before


def test_comments_and_formatting_do_not_change_the_digest(tmp_path: Path) -> None:
    reformatted = "# the relay\nservices:\n  relay: {image: relay, environment: {MODE: '${MODE}'}}\n"
    assert render(tmp_path, reformatted, images={"relay": "relay:aaa"}, variables={"MODE": "dev"}).digest == digest(
        tmp_path)


# --- the shipped demo -------------------------------------------------------------------------------------------------


def test_the_shipped_demo_stack_renders() -> None:
    config = loader.load(REPO / "devstack.toml", environ={})
    assert config.swarm is not None
    inputs = Inputs(project=config.project, variables=config.variables,
                    images={"relay": "relay:1111222233334444", "sink": "sink:5555666677778888"},
                    forwards=config.forwards, secrets={"inject-password": "demo_inject-password_0123456789"})
    rendered = stackfile.render(config.swarm.stack_file, config.display(config.swarm.stack_file), inputs)
    services = rendered.document["services"]
    assert rendered.services == ("relay", "sink")
    assert {name: s["image"] for name, s in services.items()} == {
        "relay": "relay:1111222233334444", "sink": "sink:5555666677778888"}
    assert services["relay"]["ports"][0]["published"] == 8000
    assert {p["published"] for p in services["sink"]["ports"]} == {2525, 8025}
    # The password is a dev secret: a swarm secret file, never an environment value.
    assert "INJECT_PASSWORD" not in services["relay"]["environment"]
    assert services["relay"]["environment"]["INJECT_PASSWORD_FILE"] == "/run/secrets/inject-password"
    assert rendered.document["secrets"]["inject-password"] == {"external": True,
                                                               "name": "demo_inject-password_0123456789"}
    assert all(s["deploy"]["labels"][labels.PROJECT] == "demo" for s in services.values())
    assert rendered.document["networks"]["default"]["labels"] == {labels.PROJECT: "demo"}


# --- configs named after their content --------------------------------------------------------------------------------

CONFIGS = """
services:
  smtp: {image: smtp, configs: [{source: main, target: /etc/main.cf}]}
configs:
  main: {file: main.cf}
  fixed: {file: main.cf, name: chosen}
"""


def test_a_file_config_is_named_after_its_content_so_an_edit_makes_a_new_one(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text("a = 1\n")
    first = render(tmp_path, CONFIGS, project="mail")
    (tmp_path / "main.cf").write_text("a = 2\n")
    second = render(tmp_path, CONFIGS, project="mail")
    name1, name2 = first.document["configs"]["main"]["name"], second.document["configs"]["main"]["name"]
    assert name1.startswith("mail_main_") and name2.startswith("mail_main_") and name1 != name2
    assert first.document["configs"]["fixed"]["name"] == "chosen"  # a name the file gives is kept
    assert first.digest != second.digest
    assert stackfile.config_names(second.document, "mail") == {name2, "chosen"}


def test_referenced_files_are_what_an_edit_redeploys(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text("a = 1\n")
    path = tmp_path / "stack.yml"
    path.write_text(CONFIGS + "secrets:\n  key: {file: '${KEY_FILE}'}\n")
    assert stackfile.referenced(path, {"KEY_FILE": "key.txt"}) == {tmp_path / "main.cf", tmp_path / "key.txt"}
    assert stackfile.referenced(path, {}) == frozenset()  # not renderable now: the deploy reports why
