"""The Mailu stack files, both variants, as devstack renders them: valid by the Compose Specification's own JSON
schema (tests/data/compose-spec.json, see tests/data/README.md), and translated for swarm as promised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from devstack.config import loader
from devstack.providers.swarm import stackfile

REPO = Path(__file__).resolve().parents[2]
MAILU = REPO / "stacks" / "mailu" / "devstack.toml"
SCHEMA = REPO / "tests" / "data" / "compose-spec.json"
SERVICES = {"front", "admin", "imap", "smtp", "antispam", "redis", "webmail", "sink"}  # Mailu's seven, devstack's sink
STATEFUL = SERVICES - {"webmail", "sink"}


def compose_schema() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))  # "$schema": draft-07
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def problems(document: dict[str, Any]) -> list[str]:
    errors = sorted(compose_schema().iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def rendered(variant: str) -> dict[str, Any]:
    config = loader.load(MAILU, environ={"MAILU_VARIANT": variant})
    assert config.swarm is not None
    inputs = stackfile.Inputs(project="mailu", variables=config.variables,
                              images={"mailu-offline": "mailu-offline:x", "sink": "sink:x"},
                              secrets={s.name: f"mailu_{s.name}_0" for s in config.secrets})
    return stackfile.render(config.swarm.stack_file, config.swarm.stack_file.name, inputs).document


@pytest.fixture(params=["upstream", "offline"])
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    return rendered(request.param)


def test_each_variant_is_a_valid_compose_file(document: dict[str, Any]) -> None:
    assert problems(document) == []


def test_the_schema_finds_mistakes(document: dict[str, Any]) -> None:
    document["services"]["front"]["networks"] = 5
    document["services"]["smtp"]["deploy"]["restart_policy"]["condtion"] = "any"
    found = problems(document)
    assert len(found) == 2
    assert found[0].startswith("services.front.networks: 5 is not ")
    assert found[1] == "services.smtp.deploy.restart_policy: 'condtion' does not match any of the regexes: '^x-'"


def test_the_swarm_translation(document: dict[str, Any]) -> None:
    services = document["services"]
    assert set(services) == SERVICES
    assert "resolver" not in services and not any("dns" in s or "restart" in s or "depends_on" in s
                                                  for s in services.values())
    for name, service in services.items():
        assert service["logging"]["driver"] == "json-file", name
        assert service["deploy"]["endpoint_mode"] == "dnsrr", name
        assert service["deploy"]["restart_policy"]["condition"] == "any", name
        assert service["networks"] == ["mailu"], name
    for name in STATEFUL:
        assert services[name]["deploy"]["placement"]["constraints"] == ["node.role == manager"], name
    ports = {(p["target"], p["published"], p["mode"]) for p in services["front"]["ports"]}
    assert ports == {(t, t, "host") for t in (25, 587, 465, 143, 993, 80, 443)}
    network = document["networks"]["mailu"]
    assert network["driver"] == "overlay" and network["attachable"] is True
    assert network["ipam"]["config"] == [{"subnet": "192.168.203.0/24"}]  # not swarm's ingress, 10.0.0.0/24
    assert all(not spec.get("driver") for spec in document["volumes"].values())  # named local volumes


def test_only_the_upstream_variant_runs_mailus_images() -> None:
    upstream, offline = rendered("upstream"), rendered("offline")
    assert {s["image"] for s in offline["services"].values()} == {"mailu-offline:x", "sink:x"}
    images = {name: s["image"] for name, s in upstream["services"].items()}
    assert images["sink"] == "sink:x"  # devstack's, the relayhost of both variants
    assert all(image.startswith("ghcr.io/mailu/") and image.endswith(":2024.06")
               for name, image in images.items() if name not in ("redis", "sink"))
