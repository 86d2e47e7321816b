"""`devstack base-image`: make the base image builds use when no container registry is reachable."""

from __future__ import annotations

from pathlib import Path

import click

from devstack.cli.session import Session, pass_session
from devstack.config.model import BASE_ARG, Config
from devstack.errors import UsageError
from devstack.images import docker_engine, offline_base, package_base


@click.command("base-image")
@click.option("--image", default=offline_base.DEFAULT_IMAGE, show_default=True, help="Name of the offline image.")
@click.option("--force", is_flag=True, help="Build it again even when it exists.")
@click.option("--auto", "public", metavar="PUBLIC_IMAGE",
              help="Use PUBLIC_IMAGE when present or pullable; build the offline image only when it is not.")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the chosen image's name to FILE; as .devstack/base-image beside devstack.toml, it is "
                   "DEVSTACK_BASE_IMAGE's default there.")
@pass_session
def command(session: Session, image: str, force: bool, public: str | None, record: Path | None) -> int:
    """Bootstrap a Debian base image with debootstrap (root, ~1 min) so builds need no registry; and the offline
    base of every image of the config that names a Debian `packages` list (with --auto: only when no registry
    serves debian:bookworm-slim)."""
    log = session.console.info
    config = _config(session)  # a bad config is reported before anything is built
    if public and not force:
        chosen = offline_base.pick(public, image, log)
    else:
        offline_base.main_ensure(image, force, log)
        chosen = image
    log(f"base image: {chosen}")
    if record is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(chosen + "\n", encoding="utf-8")
    if config is not None:
        package_bases(config, auto=bool(public), force=force, log=log)
    return 0


def _config(session: Session) -> Config | None:
    """The config, when -f names one or one is found; none is fine: then there are no package lists."""
    try:
        return session.config
    except UsageError:
        if session.file is not None:
            raise
        return None


def package_bases(config: Config, *, auto: bool, force: bool, log: offline_base.Log) -> None:
    specs = [spec for spec in config.images.values() if spec.packages and BASE_ARG not in spec.args]
    if not specs:
        return
    client = docker_engine.connect()
    try:
        if auto and not force and package_base.public_wanted() and package_base.public_usable(client):
            log(f"{package_base.PUBLIC} is available: images from Debian packages need no offline base")
            return
        done: set[str] = set()  # images that share a list share its base: build it once
        for spec in specs:
            assert spec.packages is not None
            tag = package_base.offline_tag(spec.packages)
            if tag not in done and not package_base.ensure(client, spec, log, force=force):
                log(f"{spec.name}: offline base {tag} exists")
            done.add(tag)
    finally:
        client.close()
