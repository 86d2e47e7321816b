"""Render a compose/stack file into what devstack deploys: variables substituted, devstack images rewritten to
their built tags, ownership labels on every object, relative paths made absolute, forwards published.

A pure function from (file text, inputs) to a document and its digest: no engine is touched here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack import labels
from devstack.config.model import Forward
from devstack.config.variables import InterpolationError, interpolate
from devstack.errors import ConfigError

_LABELLED_SECTIONS = ("networks", "volumes", "configs", "secrets")


@dataclass(frozen=True)
class Rendered:
    document: dict[str, Any]
    services: tuple[str, ...]
    digest: str

    def text(self) -> str:
        return yaml.safe_dump(self.document, sort_keys=True, default_flow_style=False)


@dataclass(frozen=True)
class Inputs:
    project: str
    variables: Mapping[str, str]
    images: Mapping[str, str]  # repository as written in the file → built tag
    forwards: tuple[Forward, ...] = ()
    config_file: str = "devstack.toml"  # for errors about forwards, which live there


def render(path: Path, display: str, inputs: Inputs) -> Rendered:
    document = _parse(_substitute(path.read_text(encoding="utf-8"), display, inputs.variables), display)
    services = document["services"]
    for service in services.values():
        _rewrite_image(service, inputs.images)
        _absolute(service, "env_file", path.parent)
        _label(service, "labels", inputs.project)
    for section in _LABELLED_SECTIONS:
        for spec in (document.get(section) or {}).values():
            _absolute(spec, "file", path.parent)
            if not spec.get("external"):
                _label(spec, "labels", inputs.project)
    _label_default_network(document, inputs.project)
    _publish_forwards(services, inputs, display)
    digest = hashlib.sha256(yaml.safe_dump(document, sort_keys=True).encode()).hexdigest()
    for service in services.values():
        deploy = service.setdefault("deploy", {})
        _label(deploy, "labels", inputs.project, {labels.DIGEST: digest})
    return Rendered(document=document, services=tuple(services), digest=digest)


def _substitute(text: str, display: str, variables: Mapping[str, str]) -> str:
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("#"):
            continue
        try:
            lines[number - 1] = interpolate(line, variables)
        except InterpolationError as err:
            raise ConfigError(f"{display}:{number}", "", str(err)) from None
    return "".join(lines)


def _parse(text: str, display: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(display, "", f"invalid YAML: {err}") from None
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict) or not document["services"]:
        raise ConfigError(display, "services", "expected a compose file with at least one service")
    for name, service in document["services"].items():
        if not isinstance(service, dict):
            raise ConfigError(display, f"services.{name}", "expected a mapping")
    for section in _LABELLED_SECTIONS:
        for name, spec in list((document.get(section) or {}).items()):
            if spec is None:
                document[section][name] = {}
            elif not isinstance(spec, dict):
                raise ConfigError(display, f"{section}.{name}", "expected a mapping")
    return document


def repository(image: str) -> str:
    """`relay:1.0`, `relay@sha256:…` → `relay`; a registry port (`localhost:5000/relay`) is kept."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def _rewrite_image(service: dict[str, Any], images: Mapping[str, str]) -> None:
    image = service.get("image")
    if isinstance(image, str) and repository(image) in images:
        service["image"] = images[repository(image)]


def _absolute(spec: dict[str, Any], key: str, base: Path) -> None:
    value = spec.get(key)
    if isinstance(value, str):
        spec[key] = str((base / value).resolve())
    elif isinstance(value, list):
        spec[key] = [str((base / item).resolve()) if isinstance(item, str) else item for item in value]


def _label(spec: dict[str, Any], key: str, project: str, extra: Mapping[str, str] | None = None) -> None:
    """Add the ownership label to a compose `labels` field, which may be a mapping or a list of `k=v`."""
    current = spec.get(key) or {}
    if isinstance(current, list):
        current = dict(item.split("=", 1) if "=" in item else (item, "") for item in current)
    spec[key] = {**current, labels.PROJECT: project, **(extra or {})}


def _label_default_network(document: dict[str, Any], project: str) -> None:
    """Services without `networks` join the stack's default network; declare it so it is labelled too."""
    uses_default = any("networks" not in s or "default" in (s["networks"] or {}) for s in document["services"].values())
    if uses_default:
        networks = document.setdefault("networks", {}) or {}
        document["networks"] = networks
        default = networks.setdefault("default", {}) or {}
        networks["default"] = default
        if not default.get("external"):
            _label(default, "labels", project)


def _publish_forwards(services: dict[str, Any], inputs: Inputs, display: str) -> None:
    """On swarm a forward is a published port; add it unless the stack file already publishes it.

    Host mode: it answers as soon as the task runs and needs no routing mesh (IPVS), which many engines lack.
    """
    for index, forward in enumerate(inputs.forwards):
        if forward.resource not in services:
            known = ", ".join(sorted(services))
            raise ConfigError(inputs.config_file, f"forwards[{index}].resource",
                              f"no service {forward.resource!r} in {display} (services: {known})")
        ports = services[forward.resource].setdefault("ports", [])
        if not any(_published(port) == forward.local for port in ports):
            ports.append({"target": forward.remote, "published": forward.local, "protocol": "tcp", "mode": "host"})


def _published(port: Any) -> int | None:
    if isinstance(port, dict):
        value = port.get("published")
        return int(value) if value is not None else None
    text = str(port).split("/", 1)[0]
    parts = text.split(":")
    return int(parts[-2]) if len(parts) >= 2 and parts[-2].isdigit() else None
