"""The shape of the parts of a manifest that devstack reads and rewrites before the API server sees it (labels,
pod templates, containers, volumes, ports, config references). A manifest whose parts have another shape is
refused with the file, the document and the key path, as the API server would refuse it, instead of crashing
the walk over it (inject.py, confighash.py, render.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from devstack.errors import ConfigError
from devstack.providers.kubernetes import inject

_NAMES: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
_OBJECT = [("metadata", dict), ("metadata.labels", dict), ("metadata.annotations", dict),
           ("metadata.namespace", str), ("spec", dict), ("spec.ports", list), ("spec.ports.*", dict),
           ("spec.volumeClaimTemplates", list), ("spec.volumeClaimTemplates.*", dict),
           ("spec.volumeClaimTemplates.*.metadata", dict), ("spec.volumeClaimTemplates.*.metadata.labels", dict),
           ("data", dict), ("binaryData", dict), ("stringData", dict)]
_REFERENCES = ("configMap", "secret", "configMapKeyRef", "secretKeyRef", "configMapRef", "secretRef")
_POD = [("metadata", dict), ("metadata.labels", dict), ("metadata.annotations", dict), ("spec", dict),
        ("spec.volumes", list), ("spec.volumes.*", dict), ("spec.volumes.*.projected", dict),
        ("spec.volumes.*.projected.sources", list), ("spec.volumes.*.projected.sources.*", dict),
        *((f"spec.volumes.*.{ref}", dict) for ref in _REFERENCES[:2]),
        *((f"spec.volumes.*.projected.sources.*.{ref}", dict) for ref in _REFERENCES[:2])]
for _list in ("initContainers", "containers", "ephemeralContainers"):
    _POD += [(f"spec.{_list}", list), (f"spec.{_list}.*", dict), (f"spec.{_list}.*.ports", list),
             (f"spec.{_list}.*.ports.*", dict), (f"spec.{_list}.*.env", list), (f"spec.{_list}.*.env.*", dict),
             (f"spec.{_list}.*.env.*.valueFrom", dict), (f"spec.{_list}.*.envFrom", list),
             (f"spec.{_list}.*.envFrom.*", dict),
             *((f"spec.{_list}.*.env.*.valueFrom.{ref}", dict) for ref in _REFERENCES[2:4]),
             *((f"spec.{_list}.*.envFrom.*.{ref}", dict) for ref in _REFERENCES[4:])]


def check(obj: dict[str, Any], where: str) -> None:
    for key, kind in _OBJECT:
        _check(obj, key, kind, where)
    path = inject.template_path(obj)
    if path is None:
        return
    for depth in range(1, len(path) + 1):  # spec, spec.template, …: each a mapping
        _check(obj, ".".join(path[:depth]), dict, where)
    template = inject.template(obj)
    for key, kind in _POD if template is not None else ():
        _check(template, key, kind, where, prefix=".".join(path))


def _check(node: Any, key: str, kind: type, where: str, prefix: str = "") -> None:
    for found, value in _values(node, key.split("."), prefix):
        if (value is not None or key.endswith("*")) and not isinstance(value, kind):  # a list item may not be null
            raise ConfigError(where, found, f"expected {_NAMES[kind]}, got {type(value).__name__}")


def _values(node: Any, parts: list[str], key: str) -> Iterator[tuple[str, Any]]:
    """(key path, value) of every place `parts` reaches, `*` standing for each item of a list."""
    if not parts:
        yield key, node
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        for i, item in enumerate(node if isinstance(node, list) else []):
            yield from _values(item, rest, f"{key}[{i}]")
    elif isinstance(node, dict) and head in node:
        yield from _values(node[head], rest, f"{key}.{head}" if key else head)
