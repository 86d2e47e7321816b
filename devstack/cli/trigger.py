"""`devstack trigger RESOURCE`: ask the running `devstack up` to rebuild and restart a resource now."""

from __future__ import annotations

import urllib.parse

import click

from devstack.cli.session import Session, pass_session
from devstack.errors import DevstackError
from devstack.web import control


@click.command("trigger")
@click.argument("resource")
@pass_session
def command(session: Session, resource: str) -> int:
    """Rebuild RESOURCE's image when its content changed, redeploy, restart it, and re-run the smoke tests."""
    endpoint = control.find(session.config)
    if endpoint is None:
        raise DevstackError(f"no `devstack up` is running for project '{session.config.project}': start one first")
    control.call(endpoint, "POST", f"/api/resources/{urllib.parse.quote(resource, safe='')}/trigger")
    session.console.info(f"{resource}: queued; `devstack status` shows when it is done")
    return 0
