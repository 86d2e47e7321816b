"""Render a compose/stack file into what devstack deploys: variables substituted, devstack images rewritten to
their built tags, ownership labels on every object, relative paths made absolute, forwards published.

A pure function from (file text, inputs) to a document and its digest: no engine is touched here.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devstack import labels
from devstack.config import documents
from devstack.config.model import Forward
from devstack.config.variables import interpolate_tree
from devstack.errors import ConfigError
from devstack.formats import reference

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
    secrets: Mapping[str, str] = field(default_factory=dict)  # dev secret → the swarm secret that holds it
    disabled: frozenset[str] = frozenset()  # services left out (devstack disable): --prune removes them


def render(path: Path, display: str, inputs: Inputs) -> Rendered:
    # Substituted into parsed values, as compose does: a value may hold '#', ': ' or quotes (passwords do).
    text = documents.read_text(path, display)
    document = interpolate_tree(_parse(text, display), inputs.variables, display, cast_numbers=True, source=text)
    services = document["services"]
    for name in inputs.disabled & set(services):
        del services[name]  # its volumes stay: swarm removes a service, never its named volumes
    if not services:
        raise ConfigError(display, "services", "every service is disabled: `devstack enable NAME` brings one back "
                                               "(or `devstack down` to remove the stack)")
    for name, service in services.items():
        _rewrite_image(name, service, inputs.images)
        _absolute(service, "env_file", path.parent)
        _label(service, "labels", inputs.project)
    _use_dev_secrets(document, inputs.secrets)
    for section in _LABELLED_SECTIONS:
        for spec in (document.get(section) or {}).values():
            _absolute(spec, "file", path.parent)
            if not spec.get("external"):
                _label(spec, "labels", inputs.project)
    _name_by_content(document, inputs.project)
    _label_default_network(document, inputs.project)
    _publish_forwards(services, inputs, display)
    digest = _digest(document)
    for service in services.values():
        service["deploy"] = service.get("deploy") or {}  # `deploy:` with nothing under it is null
        _label(service["deploy"], "labels", inputs.project, {labels.DIGEST: digest})
    return Rendered(document=document, services=tuple(services), digest=digest)


def holding(rendered: Rendered, started: frozenset[str], existing: frozenset[str]) -> Rendered:
    """The deploy for one stage of a deploy in dependency order: the services of `started` as rendered; the others
    held back. Swarm starts a stack's services at once, so a held service that does not exist yet is created with
    zero replicas (its networks, configs and secrets in place; `docker service ls` shows it 0/0), and one that
    runs is left out, so it keeps running as it is until its own stage (deployed without --prune). A held service
    does not carry the deploy's digest: a plan made meanwhile sees the stack as not current."""
    document = copy.deepcopy(rendered.document)
    services = document["services"]
    for name in [n for n in services if n not in started]:
        if name in existing or (services[name].get("deploy") or {}).get("mode") == "global":
            del services[name]  # left as it runs (a global service has no replica count to hold at zero)
            continue
        deploy = services[name].setdefault("deploy", {})
        deploy["replicas"] = 0
        deploy["labels"] = {**deploy.get("labels", {}), labels.DIGEST: f"held-{rendered.digest}"}
    return Rendered(document=document, services=tuple(services), digest=rendered.digest)


def _parse(text: str, display: str) -> dict[str, Any]:
    found = documents.yaml_documents(text, display)
    if len(found) > 1:
        second = documents.document_lines(text)[1]
        raise ConfigError(f"{display}:{second}", "", f"expected one YAML document, found {len(found)} (the second "
                          "starts here)")
    document = found[0] if found else None
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict) or not document["services"]:
        raise ConfigError(display, "services", "expected a compose file with at least one service")
    for name, service in document["services"].items():
        if not isinstance(name, str):
            raise ConfigError(display, f"services.{name}", "expected a service name (a string)")
        if not isinstance(service, dict):
            raise ConfigError(display, f"services.{name}", "expected a mapping")
        for key in ("deploy", "labels"):  # devstack adds its labels there
            if not isinstance(service.get(key) or {}, (dict, list) if key == "labels" else dict):
                raise ConfigError(display, f"services.{name}.{key}", "expected a mapping" + (
                    " or a list of KEY=VALUE" if key == "labels" else ""))
    for section in _LABELLED_SECTIONS:
        if not isinstance(document.get(section) or {}, dict):
            raise ConfigError(display, section, "expected a mapping")
        for name, spec in list((document.get(section) or {}).items()):
            if spec is None:
                document[section][name] = {}
            elif not isinstance(spec, dict):
                raise ConfigError(display, f"{section}.{name}", "expected a mapping")
    return document


def _use_dev_secrets(document: dict[str, Any], secrets: Mapping[str, str]) -> None:
    """A top-level secret named after a dev secret and left empty (`inject-password: {}`) is provided by
    devstack: an external swarm secret it creates from the stored value."""
    declared = document.get("secrets") or {}
    for name, spec in declared.items():
        if name in secrets and not spec:
            declared[name] = {"external": True, "name": secrets[name]}


def _name_by_content(document: dict[str, Any], project: str) -> None:
    """Swarm configs and secrets cannot change: `docker stack deploy` refuses a new content under an old name.
    One made from a file and not named in the stack file is named after its content instead
    (`<project>_<key>_<12 hex>`), so an edited file becomes a new object and swarm updates exactly the services
    that mount it. `down` removes them all by label; `prune_unused` the outdated ones after a deploy."""
    for section in ("configs", "secrets"):
        for key, spec in (document.get(section) or {}).items():
            if isinstance(spec.get("file"), str) and not spec.get("name") and not spec.get("external"):
                with contextlib.suppress(OSError):  # a missing file is docker stack deploy's error to report
                    content = hashlib.sha256(Path(spec["file"]).read_bytes()).hexdigest()[:12]
                    spec["name"] = f"{project}_{key}_{content}"


def config_names(document: dict[str, Any], project: str) -> set[str]:
    """The swarm names of the configs a rendered document declares."""
    return {spec.get("name") or f"{project}_{key}" for key, spec in (document.get("configs") or {}).items()}


def referenced(path: Path, variables: Mapping[str, str]) -> frozenset[Path]:
    """The files a stack file names (env_file, configs' and secrets' `file`): editing one changes the deploy.
    Empty when the stack file cannot be read or rendered now: deploying it will report why."""
    try:
        document = interpolate_tree(_parse(path.read_text(encoding="utf-8"), path.name), variables, path.name)
    except (OSError, UnicodeDecodeError, ConfigError):
        return frozenset()
    for service in document["services"].values():
        _absolute(service, "env_file", path.parent)
    for section in ("configs", "secrets"):
        for spec in (document.get(section) or {}).values():
            _absolute(spec, "file", path.parent)
    return frozenset(Path(name) for name in _referenced_files(document))


def used_dev_secrets(document: dict[str, Any], secrets: Mapping[str, str]) -> list[str]:
    """The dev secrets a rendered document uses, by name."""
    names = {spec.get("name") for spec in (document.get("secrets") or {}).values() if spec.get("external")}
    return [name for name, swarm_name in secrets.items() if swarm_name in names]


def _digest(document: dict[str, Any]) -> str:
    """The rendered document and the content of the files it names: editing an env_file or a config's file
    must redeploy, although the document itself did not change."""
    digest = hashlib.sha256(yaml.safe_dump(document, sort_keys=True).encode())
    for path in sorted(_referenced_files(document)):
        digest.update(path.encode() + b"\0")
        with contextlib.suppress(OSError):  # a missing file is docker stack deploy's error to report
            digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return digest.hexdigest()


def _referenced_files(document: dict[str, Any]) -> set[str]:
    files: set[str] = set()
    for service in document["services"].values():
        env_files = service.get("env_file") or []
        files.update([env_files] if isinstance(env_files, str) else [f for f in env_files if isinstance(f, str)])
    for section in ("configs", "secrets"):
        specs = (document.get(section) or {}).values()
        files.update(spec["file"] for spec in specs if isinstance(spec.get("file"), str))
    return files


def _rewrite_image(name: str, service: dict[str, Any], images: Mapping[str, str]) -> None:
    """A devstack image gets its built tag. A service that compose would build (`build:`, no `image:`) runs the
    image whose ref is the service's name, as `devstack init` writes it; swarm itself builds nothing."""
    image = service.get("image")
    if image is None and "build" in service and reference.lookup(name, images) is not None:
        service.pop("build")
        image = name
    built = reference.lookup(image, images) if isinstance(image, str) else None
    if built is not None:
        service["image"] = built


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
        current = dict(str(item).partition("=")[::2] for item in current)
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
    """A forward whose port the stack file does not publish is published in host mode at its local port: it
    answers as soon as the task runs and needs no routing mesh (IPVS), which many engines lack.

    A port the file already publishes elsewhere is left alone (host mode binds a container port to one host
    port only); the daemon forwards 127.0.0.1:local to where it is published.
    """
    for index, forward in enumerate(inputs.forwards):
        if forward.resource not in services:
            known = ", ".join(sorted(services))
            raise ConfigError(inputs.config_file, f"forwards[{index}].resource",
                              f"no service {forward.resource!r} in {display} (services: {known})")
        service = services[forward.resource]
        ports = service["ports"] = service.get("ports") or []
        if not any(_target(port) == forward.remote and _published(port) is not None for port in ports):
            ports.append({"target": forward.remote, "published": forward.local, "protocol": "tcp", "mode": "host"})


def endpoints(document: dict[str, Any]) -> dict[str, int]:
    """"service:container port" → the host port it is published at, for every single published TCP port."""
    found = {}
    for name, service in document["services"].items():
        for port in service.get("ports") or []:
            target, published = _target(port), _published(port)
            if target is not None and published is not None and _tcp(port):
                found[f"{name}:{target}"] = published
    return found


def _target(port: Any) -> int | None:
    if isinstance(port, dict):
        value = str(port.get("target", ""))
        return int(value) if value.isdigit() else None
    text = str(port).split("/", 1)[0].rsplit(":", 1)[-1]
    return int(text) if text.isdigit() else None


def _tcp(port: Any) -> bool:
    if isinstance(port, dict):
        return str(port.get("protocol", "tcp")) == "tcp"
    return "/" not in str(port) or str(port).endswith("/tcp")


def _published(port: Any) -> int | None:
    if isinstance(port, dict):
        value = str(port.get("published", ""))
        return int(value) if value.isdigit() else None  # a range ("8000-8010") is not one port
    text = str(port).split("/", 1)[0]
    parts = text.split(":")
    return int(parts[-2]) if len(parts) >= 2 and parts[-2].isdigit() else None
