"""`devstack trigger-mode NAME... auto|manual|reset`: switch resources between auto and manual trigger mode without
editing devstack.toml, as Tilt's UI toggle does. The choice overrides `trigger` in [resources.NAME] for this
project (`.devstack/trigger-modes.json`) until `reset` puts devstack.toml's setting back. With `devstack up` running
it takes effect at once (saves held for a manual resource run when it turns auto); without one, at the next `up`."""

from __future__ import annotations

import urllib.parse

import click

from devstack.cli.session import Session, pass_session
from devstack.config import trigger_modes
from devstack.errors import UsageError
from devstack.web import control


@click.command("trigger-mode")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@click.argument("mode", type=click.Choice(trigger_modes.MODES))
@pass_session
def command(session: Session, names: tuple[str, ...], mode: str) -> int:
    """Switch the resources NAMEd to auto or manual trigger mode, or reset them to devstack.toml's."""
    known = session.resource_names()
    unknown = sorted(set(names) - known)
    if unknown:
        raise UsageError(f"no resource named {', '.join(map(repr, unknown))} (the resources: "
                         f"{', '.join(sorted(known)) or 'none'})")
    config = session.config
    endpoint = control.find(config)
    for name in dict.fromkeys(names):
        if endpoint is not None:
            control.call(endpoint, "POST", f"/api/resources/{urllib.parse.quote(name, safe='')}/trigger-mode/{mode}")
        else:
            modes = trigger_modes.read(config.state_dir)
            trigger_modes.write(config.state_dir, trigger_modes.updated(modes, name, mode))
        session.console.event(name, _said(mode, config.resource(name).trigger, name))
    if endpoint is None:
        session.console.info("kept for this project: the next `devstack up` starts so")
    return 0


def _said(mode: str, configured: str, name: str) -> str:
    if mode == trigger_modes.RESET:
        return f"trigger mode as devstack.toml says: {configured}"
    if mode == "manual":
        return f"trigger mode manual: saves wait for `devstack trigger {name}`"
    return "trigger mode auto: saves run at once"
