"""`devstack status`: what is deployed and whether it is ready."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click

from devstack.cli.session import Session, pass_session
from devstack.config import trigger_modes
from devstack.config.model import Config
from devstack.errors import DaemonNotServing
from devstack.observe import view
from devstack.observe.console import Console
from devstack.providers.base import ResourceStatus
from devstack.web import control


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_session
def command(session: Session, as_json: bool) -> int:
    """Show each resource: ready or not, replicas, image, ports; with `devstack up` running, also its build,
    deploy and smoke state and the last error."""
    board = _board(session)
    if board is not None:
        if as_json:
            session.console.write(json.dumps(board, indent=2) + "\n")
        else:
            show_board(session.console, board)
            show_links(session.console, session.config)
        return 0
    resources, off = session.provider().status(), sorted(session.config.disabled)
    modes = trigger_modes.read(session.config.state_dir)
    if as_json:
        session.console.write(json.dumps({"project": session.config.project, "disabled": off, "trigger_modes": modes,
                                          "resources": [to_json(r) for r in resources]}, indent=2) + "\n")
    else:
        show(session.console, resources)
        for name in off:
            session.console.event(name, f"disabled: devstack enable {name}")
        for name, mode in sorted(modes.items()):
            session.console.event(name, trigger_mode({"name": name, "trigger_override": mode}).strip())
        show_links(session.console, session.config)
    return 0


def show_links(console: Console, config: Config) -> None:
    """[resources.NAME] links: the endpoints worth a click, beside the forwards."""
    for spec in config.resources.values():
        for link in spec.links if spec.name not in config.disabled else ():
            console.event(spec.name, f"{link.name}: {link.url}")


def _board(session: Session) -> dict[str, Any] | None:
    """The running daemon's board; None when no daemon serves (one that is stopping has nothing more to say than
    the engine)."""
    endpoint = control.find(session.config)
    if endpoint is None:
        return None
    try:
        return control.call(endpoint, "GET", "/api/state") | {"dashboard": endpoint.dashboard}
    except DaemonNotServing:
        return None


def to_json(resource: ResourceStatus) -> dict[str, object]:
    data = asdict(resource)
    data["ports"] = list(resource.ports)
    data["smoke"] = None  # set by the daemon once smoke results are tracked per resource
    return data


def show_board(console: Console, board: dict[str, Any]) -> None:
    console.info(f"devstack up (pid {board['pid']}) is {board['phase']}")
    if board.get("dashboard"):
        console.info(f"dashboard: {board['dashboard']}")
    for r in board["resources"]:
        smoke = {"ok": "smoke ✓", "failed": "smoke ✗", None: ""}[r["smoke"]]
        error = f"  last error: {r['last_error']}" if r["last_error"] else ""
        deploy = view.note(r) or f"deploy {r['deploy']}"
        console.event(r["name"], f"{'ready' if r['ready'] else 'not ready'}  build {r['build']}  {deploy}  "
                      f"{smoke}{trigger_mode(r)}  {r['image']}  updated {r['updated_at']}{error}",
                      ok=r["ready"] and not r["last_error"])
    if board["error"]:
        console.error(board["error"])


def trigger_mode(row: dict[str, Any]) -> str:
    """A row's trigger mode when it is not the plain default: manual, or switched by `devstack trigger-mode`."""
    if row.get("trigger_override"):
        return f"  trigger {row['trigger_override']} (devstack trigger-mode {row['name']} reset: as devstack.toml says)"
    return "  trigger manual" if row.get("trigger") == "manual" else ""


def show(console: Console, resources: list[ResourceStatus]) -> None:
    if not resources:
        console.info("nothing deployed")
    for r in resources:
        state = "ready" if r.ready else "not ready"
        ports = f"  {', '.join(r.ports)}" if r.ports else ""
        detail = f"  ({r.message})" if r.message else ""
        console.event(r.name, f"{state} {r.running}/{r.desired}  {r.image}{ports}{detail}", ok=r.ready)
