"""`devstack down`: remove everything the project created, found by label. Safe to repeat."""

from __future__ import annotations

import click

from devstack.cli.session import Session, pass_session
from devstack.providers.base import DownOptions


@click.command("down")
@click.option("--volumes", is_flag=True, help="Also remove the project's volumes (their data is lost).")
@click.option("--images", is_flag=True, help="Also remove the images devstack built for the project.")
@pass_session
def command(session: Session, volumes: bool, images: bool) -> int:
    """Remove the project's services, networks, configs and secrets (volumes and images only when asked)."""
    report = session.provider().down(DownOptions(volumes=volumes, images=images))
    session.console.info(f"{session.config.project}: {report.summary()}")
    for note in report.notes:
        session.console.info(note)
    return 0
