"""Global options: declared once here, accepted before the subcommand (`devstack -f x.toml ci`) and after it
(`devstack ci -f x.toml`), as Tilt and Skaffold users type them.

Each option sets the `Session` attribute of the same name. Adding a global option is one `Global(...)` line
below and one `Session` field. A subcommand whose own option already uses a flag keeps it (`devstack logs -f`
follows; `--file` still works there).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

import click

from devstack.cli.session import Session


@dataclass(frozen=True)
class Global:
    flags: tuple[str, ...]  # the last one is the long form, whose name is the Session attribute
    metavar: str
    help: str

    @property
    def attribute(self) -> str:
        return self.flags[-1].lstrip("-").replace("-", "_")


GLOBALS = (
    Global(("-f", "--file"), "PATH", "devstack.toml to use (default: found in . or its parents)."),
    Global(("--allow-context",), "NAME",
           "Use Kubernetes context NAME for this run although it is not on the allow-list of dev clusters."),
    Global(("--kube-context",), "NAME",
           "Deploy a Kubernetes project to this existing kubeconfig context instead of its own cluster."),
)


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and param.name is not None:
        setattr(ctx.ensure_object(Session), param.name, value)


def _option(option: Global, taken: Collection[str]) -> click.Option | None:
    flags = [flag for flag in option.flags if flag not in taken]
    if not flags:
        return None
    return click.Option([*flags, option.attribute], metavar=option.metavar, help=option.help,
                        expose_value=False, callback=_store)


def options(taken: Collection[str] = ()) -> list[click.Option]:
    """The global options as click parameters, leaving out flags a command already uses for itself."""
    return [o for o in (_option(g, taken) for g in GLOBALS) if o is not None]


def argv(session: Session, **overrides: str) -> Iterator[str]:
    """The global options of this session as command-line arguments (to start another devstack alike)."""
    for option in GLOBALS:
        value = overrides.get(option.attribute, getattr(session, option.attribute))
        if value is not None:
            yield from (option.flags[-1], str(value))


class Group(click.Group):
    """A command group whose global options every subcommand accepts too (unless added with globals=False)."""

    def add_command(self, cmd: click.Command, name: str | None = None, *, with_globals: bool = True) -> None:
        if with_globals:
            taken = {flag for param in cmd.params for flag in (*param.opts, *param.secondary_opts)}
            cmd.params.extend(options(taken))
        super().add_command(cmd, name)
