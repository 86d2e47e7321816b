"""`devstack down`: remove everything the project created, found by label. Safe to repeat."""

from __future__ import annotations

import contextlib
import time

import click

from devstack import blocking
from devstack.cli.session import Session, pass_session
from devstack.errors import DaemonNotServing, DevstackError
from devstack.providers.base import DownOptions
from devstack.web import control

_STOP_WAIT_S = 10.0


@click.command("down")
@click.option("--volumes", is_flag=True, help="Also remove the project's volumes (their data is lost).")
@click.option("--images", is_flag=True, help="Also remove the images devstack built for the project.")
@click.option("--cluster", is_flag=True, help="kind, k3d, minikube: delete the whole cluster devstack created; "
              "swarm: leave the single-node swarm devstack initialised, unless anything else uses it.")
@pass_session
def command(session: Session, volumes: bool, images: bool, cluster: bool) -> int:
    """Remove the project's services, networks, configs and secrets (volumes and images only when asked)."""
    _stop_daemon(session)
    report = session.provider().down(DownOptions(volumes=volumes, images=images, cluster=cluster))
    session.console.info(f"{session.config.project}: {report.summary()}")
    for note in report.notes:
        session.console.info(note)
    if report.refused:
        raise DevstackError(report.refused)
    return 0


def _stop_daemon(session: Session) -> None:
    """A running `devstack up` would redeploy what down removes: stop it first, and wait until it has exited.

    Any moment of a daemon's life will do: one that serves is asked to stop; one already on its way out (a
    signal, a crash) refuses the connection or has no socket left, and is only waited for; a dead one holds
    nothing and is not waited for at all."""
    config = session.config
    asked: control.Endpoint | None = None
    deadline = time.monotonic() + _STOP_WAIT_S
    while control.running(config):
        endpoint = control.find(config)
        if endpoint is not None and endpoint != asked:
            asked = endpoint
            with contextlib.suppress(DaemonNotServing):
                control.call(endpoint, "POST", "/api/stop")
        if time.monotonic() > deadline:
            pid = f" (pid {asked.pid})" if asked else ""
            raise DevstackError(f"devstack up{pid} for project '{config.project}' did not stop within "
                                f"{_STOP_WAIT_S:.0f}s; down left the stack as it is: stop that process, then run "
                                "down again")
        blocking.sleep(0.1)
    if asked is not None:
        session.console.info(f"stopped devstack up (pid {asked.pid})")
