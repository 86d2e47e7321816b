"""`devstack down`: remove everything the project created, found by label. Safe to repeat."""

from __future__ import annotations

import time

import click

from devstack.cli.session import Session, pass_session
from devstack.observe import control
from devstack.providers.base import DownOptions

_STOP_WAIT_S = 10.0


@click.command("down")
@click.option("--volumes", is_flag=True, help="Also remove the project's volumes (their data is lost).")
@click.option("--images", is_flag=True, help="Also remove the images devstack built for the project.")
@click.option("--cluster", is_flag=True, help="kind, k3d, minikube: delete the whole cluster devstack created.")
@pass_session
def command(session: Session, volumes: bool, images: bool, cluster: bool) -> int:
    """Remove the project's services, networks, configs and secrets (volumes and images only when asked)."""
    _stop_daemon(session)
    report = session.provider().down(DownOptions(volumes=volumes, images=images, cluster=cluster))
    session.console.info(f"{session.config.project}: {report.summary()}")
    for note in report.notes:
        session.console.info(note)
    return 0


def _stop_daemon(session: Session) -> None:
    """A running `devstack up` would redeploy what down removes: stop it first."""
    endpoint = control.find(session.config)
    if endpoint is None:
        return
    control.call(endpoint, "POST", "/stop")
    deadline = time.monotonic() + _STOP_WAIT_S
    while control.find(session.config) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    session.console.info(f"stopped devstack up (pid {endpoint.pid})")
