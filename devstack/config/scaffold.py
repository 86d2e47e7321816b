"""`devstack init`: a first devstack.toml for a project that has a compose file, Kubernetes manifests, a
kustomization or a helm chart, written as commented TOML that a new user reads and adjusts.

What is found becomes: an image for each Dockerfile (its folder the context, its ref the name the deploy uses),
the deploy (a stack file on swarm; manifests, a kustomization or a chart on a kind cluster), a forward for each
port a Kubernetes Service declares, and an `http` or `smtp` smoke test where a port says what it is (its
number or its name). Nothing here runs a tool or touches an engine: it reads files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devstack.formats import reference

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml", "stack.yml",
                 "stack.yaml")
_SKIP = {".git", ".devstack", ".venv", "venv", "node_modules", "__pycache__", ".tox", "vendor", "dist", "build"}
_DEPTH = 4
_SMTP_PORTS = {25, 465, 587, 2525, 1025, 2500}
_HTTP_PORTS = {80, 8000, 8008, 8025, 8080, 8081, 3000, 5000, 8888, 9000}
_WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet"}


@dataclass(frozen=True)
class Image:
    name: str
    context: Path
    dockerfile: str = "Dockerfile"
    ref: str = ""  # the repository the deploy uses; "" when none matches (then the name, with a note)


@dataclass(frozen=True)
class Port:
    resource: str
    port: int  # where it answers in the cluster (Kubernetes) or is published on this machine (swarm)
    name: str = ""
    published: bool = False  # swarm: published by the stack file itself, so no forward is needed
    target: int = 0  # the container's port behind a published one: what tells the protocol


@dataclass
class Found:
    """What a folder holds, as devstack init reads it."""

    root: Path
    provider: str = ""  # swarm | kind
    stack_file: Path | None = None
    kustomize: Path | None = None
    charts: list[Path] = field(default_factory=list)
    manifests: list[Path] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    ports: list[Port] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def scan(root: Path) -> Found:
    found = Found(root)
    files = list(_walk(root, 0))
    compose = next((root / name for name in COMPOSE_FILES if (root / name).is_file()), None)
    if compose is not None:
        _compose(found, compose)
    else:
        _kubernetes(found, files)
    if found.provider:
        _dockerfiles(found, files)
    return found


def _walk(folder: Path, depth: int) -> Iterator[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink() and entry.name not in _SKIP and depth < _DEPTH:
            yield from _walk(entry, depth + 1)
        elif entry.is_file():
            yield entry


def _yaml_documents(path: Path) -> list[Any]:
    try:
        return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []


# --- compose ----------------------------------------------------------------------------------------------------------


def _compose(found: Found, path: Path) -> None:
    documents = _yaml_documents(path)
    services = documents[0].get("services") if documents and isinstance(documents[0], dict) else None
    if not isinstance(services, dict):
        return
    found.provider, found.stack_file = "swarm", path
    for name, service in services.items():
        if not isinstance(service, dict):
            continue
        _compose_build(found, path.parent, str(name), service)
        for port in service.get("ports") or []:
            published, target = _published(port)
            if published is not None:
                found.ports.append(Port(str(name), published, published=True, target=target))


def _compose_build(found: Found, base: Path, name: str, service: dict[str, Any]) -> None:
    build = service.get("build")
    if build is None:
        return
    context, dockerfile = (build, "Dockerfile") if isinstance(build, str) else \
        (build.get("context", "."), build.get("dockerfile", "Dockerfile"))
    image = service.get("image")
    ref = _repository(image) if isinstance(image, str) else name
    found.images.append(Image(_image_name(name), (base / str(context)).resolve(), str(dockerfile), ref or name))


def _published(port: Any) -> tuple[int | None, int]:
    """(published, target) of a compose `ports` entry: '8000:80', '127.0.0.1:25:25', {published: 80, target: 8080}.
    None when it publishes nothing fixed."""
    if isinstance(port, dict):
        published, target = str(port.get("published", "")), str(port.get("target", ""))
    else:
        parts = str(port).split("/")[0].split(":")
        published, target = (parts[-2], parts[-1]) if len(parts) >= 2 else ("", parts[-1])
    return (int(published) if published.isdigit() else None), (int(target) if target.isdigit() else 0)


# --- Kubernetes -------------------------------------------------------------------------------------------------------


def _kubernetes(found: Found, files: list[Path]) -> None:
    kustomizations = [f for f in files if f.name in ("kustomization.yaml", "kustomization.yml", "Kustomization")]
    found.charts = [f.parent for f in files if f.name == "Chart.yaml"]
    if kustomizations:
        found.kustomize = _preferred([k.parent for k in kustomizations])
    objects: list[dict[str, Any]] = []
    for path in files:
        if path.suffix in (".yaml", ".yml") and not any(path.is_relative_to(c) for c in found.charts):
            docs = [d for d in _yaml_documents(path) if isinstance(d, dict) and "apiVersion" in d and "kind" in d]
            if docs and path.name not in ("kustomization.yaml", "kustomization.yml"):
                found.manifests.append(path)
                objects += docs
    if found.kustomize or found.charts or found.manifests:
        found.provider = "kind"
    found.ports += list(_service_ports(objects))
    found.images += [Image("", Path(), ref=ref) for ref in _container_images(objects)]  # matched to Dockerfiles


def _preferred(folders: list[Path]) -> Path:
    """The kustomization to deploy: a dev or local overlay when there is one, else the shallowest."""
    for folder in folders:
        if folder.name in ("dev", "local", "development"):
            return folder
    return min(folders, key=lambda f: (len(f.parts), str(f)))


def _service_ports(objects: list[dict[str, Any]]) -> Iterator[Port]:
    for obj in objects:
        if obj.get("kind") != "Service":
            continue
        name = str((obj.get("metadata") or {}).get("name", ""))
        for port in (obj.get("spec") or {}).get("ports") or []:
            if isinstance(port, dict) and isinstance(port.get("port"), int) and name:
                yield Port(name, port["port"], str(port.get("name", "")))


def _container_images(objects: list[dict[str, Any]]) -> list[str]:
    refs: list[str] = []
    for obj in objects:
        if obj.get("kind") in _WORKLOADS:
            for container in _containers(obj):
                ref = _repository(str(container.get("image", "")))
                if ref and ref not in refs:
                    refs.append(ref)
    return refs


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    for key in ("jobTemplate", "template"):  # CronJob → Job → Pod template
        if isinstance(spec.get(key), dict):
            spec = spec[key].get("spec") or {}
            if isinstance(spec.get("template"), dict):
                spec = spec["template"].get("spec") or {}
    return [c for key in ("initContainers", "containers") for c in spec.get(key) or [] if isinstance(c, dict)]


# --- images -----------------------------------------------------------------------------------------------------------


def _dockerfiles(found: Found, files: list[Path]) -> None:
    """An image for every Dockerfile not built by a compose service already; on Kubernetes, its ref is the
    image of the manifests whose last path part is the folder's name."""
    wanted = [image.ref for image in found.images if not image.name]  # Kubernetes: what the manifests run
    found.images = [image for image in found.images if image.name]
    built = {(image.context, image.dockerfile) for image in found.images}
    for path in files:
        if path.name != "Dockerfile" and not path.name.startswith("Dockerfile."):
            continue
        if (path.parent, path.name) in built:
            continue
        folder = path.parent if path.parent != found.root else found.root
        name = _image_name(folder.name if folder != found.root else found.root.name)
        if path.name != "Dockerfile":
            name = _image_name(f"{name}-{path.name.removeprefix('Dockerfile.')}")
        ref = next((r for r in wanted if r.rsplit("/", 1)[-1] == name), "")
        found.images.append(Image(_unique(name, found.images), folder, path.name, ref))


def _unique(name: str, images: list[Image]) -> str:
    taken = {image.name for image in images}
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def _image_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-._")
    return name or "app"


def _repository(image: str) -> str:
    """The repository of an image reference, without tag or digest ('' when it is not one)."""
    try:
        return reference.parse(image, normalize=False).name
    except ValueError:
        return ""


def project_name(root: Path) -> str:
    name = re.sub(r"[^a-z0-9_-]+", "-", root.resolve().name.lower()).strip("-_")[:41]
    return name if name and name[0].isalnum() else f"app-{name}".strip("-")[:41] or "app"


def smoke_kind(port: Port) -> str:
    """'smtp' or 'http' when the port says what it is, by its name or its number; '' otherwise."""
    name, number = port.name.lower(), port.target or port.port
    if "smtp" in name or "submission" in name or number in _SMTP_PORTS:
        return "smtp"
    if name in ("web", "api") or name.startswith("http") or number in _HTTP_PORTS:
        return "http"
    return ""
