"""`devstack disable NAME...` and `devstack enable NAME...` (or `--all`): switch resources off and on for this
project, a choice kept until changed (`.devstack/disabled.json`). A disabled resource is removed from the cluster
(its volumes kept) and its forwards, smoke tests and log followers stop, while the rest keeps running; enabling
brings it back, after its dependencies. With `devstack up` running it does this; without one, this command does."""

from __future__ import annotations

import click

from devstack.cli import options
from devstack.cli.session import Session, pass_session
from devstack.config import disabled
from devstack.engine.converge import run_once
from devstack.errors import UsageError
from devstack.web import control


def _command(name: str, enable: bool) -> click.Command:
    verb = "enable" if enable else "disable"

    @click.command(name, help=f"{verb.capitalize()} the resources NAMEd (or --all) for this project.")
    @click.argument("names", nargs=-1, metavar="NAME...")
    @click.option("--all", "every", is_flag=True, help=f"{verb.capitalize()} every resource.")
    @options.timeout
    @pass_session
    def command(session: Session, names: tuple[str, ...], every: bool, timeout: float) -> int:
        return _switch(session, names, every, enable=enable, timeout=timeout)

    return command


def _switch(session: Session, names: tuple[str, ...], every: bool, *, enable: bool, timeout: float) -> int:
    if bool(names) == every:
        raise UsageError("name the resources, or give --all (not both)")
    config, console = session.config, session.console
    known = session.resource_names()
    unknown = sorted(set(names) - known)
    if unknown:
        raise UsageError(f"no resource named {', '.join(map(repr, unknown))} (the resources: "
                         f"{', '.join(sorted(known)) or 'none'})")
    chosen = known if every else set(names)
    now = config.disabled - chosen if enable else config.disabled | chosen
    if now == config.disabled:
        console.info(f"nothing to change: {', '.join(sorted(chosen))} {'enabled' if enable else 'disabled'} already")
        return 0
    disabled.write(config.state_dir, now)
    said = f"{'enabled' if enable else 'disabled'} {', '.join(sorted(now ^ config.disabled))}"
    endpoint = control.find(config)
    if endpoint is not None:
        control.call(endpoint, "POST", "/api/reconfigure")
        console.info(f"{said}: devstack up (pid {endpoint.pid}) applies it; `devstack status` shows it")
        return 0
    console.info(f"{said}; applying it")
    reloaded = session.load()
    provider = session.provider_for(reloaded)
    try:
        run_once(reloaded, provider, console, timeout)
    finally:
        provider.close()
    return 0


disable = _command("disable", enable=False)
enable = _command("enable", enable=True)
