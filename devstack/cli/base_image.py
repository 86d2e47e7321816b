"""`devstack base-image`: make the base image builds use when no container registry is reachable."""

from __future__ import annotations

from pathlib import Path

import click

from devstack.cli.session import Session, pass_session
from devstack.images import offline_base


@click.command("base-image")
@click.option("--image", default=offline_base.DEFAULT_IMAGE, show_default=True, help="Name of the offline image.")
@click.option("--force", is_flag=True, help="Build it again even when it exists.")
@click.option("--auto", "public", metavar="PUBLIC_IMAGE",
              help="Use PUBLIC_IMAGE when present or pullable; build the offline image only when it is not.")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the chosen image's name to FILE (for DEVSTACK_BASE_IMAGE).")
@pass_session
def command(session: Session, image: str, force: bool, public: str | None, record: Path | None) -> int:
    """Bootstrap a Debian base image with debootstrap (root, ~1 min) so builds need no registry."""
    log = session.console.info
    if public and not force:
        chosen = offline_base.pick(public, image, log)
    else:
        offline_base.main_ensure(image, force, log)
        chosen = image
    log(f"base image: {chosen}")
    if record is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(chosen + "\n", encoding="utf-8")
    return 0
