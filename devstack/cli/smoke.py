"""`devstack smoke`: run the smoke tests against what is deployed now (no build, no deploy)."""

from __future__ import annotations

import click

from devstack.cli.session import Session, pass_session
from devstack.engine import smoke_session
from devstack.errors import UsageError
from devstack.web import control


@click.command("smoke")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@pass_session
def command(session: Session, names: tuple[str, ...]) -> int:
    """Run the smoke tests of devstack.toml (all, or those NAMEd). Exit 1 when one fails."""
    specs = session.config.smoke
    unknown = sorted(set(names) - {s.name for s in specs})
    if unknown:
        known = ", ".join(s.name for s in specs) or "none are declared"
        raise UsageError(f"no smoke test named {', '.join(map(repr, unknown))} (declared: {known})")
    selected = [s for s in specs if not names or s.name in names]
    if not selected:
        session.console.info(f"{session.config.file.name} declares no smoke tests")
        return 0
    # A running `devstack up` serves the forwards already: the tests go through its ports.
    smoke_session.check(selected, session.provider(), session.console, forward=control.find(session.config) is None)
    return 0
