"""Remove everything carrying the project's label: services, then their containers, networks, configs, secrets,
and volumes or images only when asked. Found by label, not by memory, so it works after a crash; idempotent.
The swarm itself stays unless asked (`--cluster`), and even then while anything else uses it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import docker
import docker.errors

from devstack import blocking, labels
from devstack.images import build
from devstack.providers.base import DownOptions, DownReport
from devstack.providers.swarm import cluster, readiness

_WAIT_S = 60.0


def down(client: docker.DockerClient, project: str, options: DownOptions) -> DownReport:
    report = DownReport()
    selector = {"label": labels.selector(project)}
    manager = cluster.is_manager(client)
    if manager:
        _remove_all(report, "services", client.services.list(filters=selector))
    _remove_containers(client, selector, report)
    _remove_networks(client, selector, report)
    if manager:
        _remove_all(report, "configs", client.configs.list(filters=selector))
        _remove_all(report, "secrets", client.secrets.list(filters=selector))
    if options.volumes:
        _remove_all(report, "volumes", client.volumes.list(filters=selector))
    if options.images:
        removed, kept = build.remove_project_images(client, project)
        report.count("images", removed)
        report.notes.extend(kept)
    if manager:
        _swarm(client, options, report)
    return report


def _swarm(client: docker.DockerClient, options: DownOptions, report: DownReport) -> None:
    """The swarm is the engine's, shared by every project: left only when asked, and only when unused."""
    if not options.cluster:
        if cluster.unused_and_ours(client):
            report.notes.append("the single-node swarm devstack initialised stays (other projects may use it); "
                                "`devstack down --cluster` leaves it when nothing else uses it")
        return
    report.refused = cluster.leave(client)
    if not report.refused:
        report.notes.append("left the single-node swarm devstack had initialised")


def _remove_all(report: DownReport, kind: str, objects: list[Any], remove: Callable[[Any], None] | None = None) -> None:
    for obj in objects:
        try:
            (remove or (lambda o: o.remove()))(obj)
            report.count(kind)
        except docker.errors.NotFound:
            pass  # removed meanwhile (another `down`, or swarm's own clean-up): the outcome is the same


def _remove_containers(client: docker.DockerClient, selector: dict[str, str], report: DownReport) -> None:
    """Swarm stops a removed service's containers itself, so each gets its stop signal and grace period; wait
    for that, then remove them. Swarm's own clean-up of stopped containers comes seconds later."""
    deadline = time.monotonic() + _WAIT_S / 2
    while client.containers.list(filters=selector) and time.monotonic() < deadline:  # running ones only
        blocking.sleep(readiness.POLL_S)
    leftovers = client.containers.list(all=True, filters=selector)
    _remove_all(report, "containers", leftovers, lambda c: c.remove(force=True, v=False))


def _remove_networks(client: docker.DockerClient, selector: dict[str, str], report: DownReport) -> None:
    """A network keeps endpoints for a moment after its containers went; retry until it can go."""
    deadline = time.monotonic() + _WAIT_S
    while True:
        busy = []
        for network in client.networks.list(filters=selector):
            try:
                network.remove()
                report.count("networks")
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError:
                busy.append(network)
        if not busy or time.monotonic() > deadline:
            break
        blocking.sleep(readiness.POLL_S)
    # Until the network object is gone, a new deploy of the same stack can fail with "network not found".
    while client.networks.list(filters=selector) and time.monotonic() < deadline:
        blocking.sleep(readiness.POLL_S)
