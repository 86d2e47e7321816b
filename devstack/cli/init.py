"""`devstack init [DIR]`: write a first, commented devstack.toml for a project that has a compose file, Kubernetes
manifests, a kustomization or a helm chart. It never overwrites one."""

from __future__ import annotations

import os
from pathlib import Path

import click

from devstack.config import loader, scaffold, scaffold_text
from devstack.errors import DevstackError, UsageError
from devstack.observe.console import Console


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path), metavar="[DIR]")
def command(directory: Path) -> int:
    """Write DIR/devstack.toml (DIR: this folder) from the compose file, manifests, kustomization or helm chart
    found there: an image per Dockerfile, the deploy, forwards and smoke tests."""
    root = directory.resolve()
    if not root.is_dir():
        raise UsageError(f"DIR: {directory}: no such directory")
    target = root / loader.FILENAME
    if target.exists():
        raise UsageError(f"{_shown(directory, target)} exists already: devstack init writes a new file only "
                         "(edit it, or move it away first)")
    found = scaffold.scan(root)
    if not found.provider:
        compose = ", ".join(scaffold.COMPOSE_FILES[:4])
        raise UsageError(f"nothing in {directory} to start from: expected a compose file ({compose}), "
                         "Kubernetes manifests, a kustomization or a helm chart (Chart.yaml)")
    _write(target, scaffold_text.render(found))
    _check(target)
    _report(Console(), found, _shown(directory, target))
    return 0


def _write(target: Path, text: str) -> None:
    try:  # O_EXCL: a file that appeared meanwhile is not overwritten either
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise UsageError(f"{target} exists already: devstack init writes a new file only") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _check(target: Path) -> None:
    """The written file loads as every devstack.toml does; one that does not is devstack's mistake, not the user's."""
    try:
        loader.load(target)
    except DevstackError as err:
        raise DevstackError(f"devstack init wrote {target}, but it does not load: {err}. This is a bug of devstack "
                            "init; edit the file, or report it with the file") from None


def _report(console: Console, found: scaffold.Found, shown: str) -> None:
    console.info(f"wrote {shown}: provider {found.provider}, {len(found.images)} image(s), "
                 f"{sum(not p.published for p in found.ports)} forward(s), "
                 f"{sum(bool(scaffold.smoke_kind(p)) for p in found.ports)} smoke test(s)")
    console.info("next: read it through, then `devstack ci` (build, deploy, wait, smoke-test once) or `devstack up` "
                 "(and keep it up to date as you edit)")


def _shown(directory: Path, target: Path) -> str:
    return str(directory / target.name) if str(directory) != "." else target.name
