"""The one door to the local Docker engine (named apart from devstack.engine, the reconciler). Its errors
become EngineUnavailable here, with what to do next."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import docker
import docker.errors
import requests.exceptions

from devstack.errors import DevstackError, EngineUnavailable

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_UNAVAILABLE = 503


def connect(timeout_s: int = 120) -> docker.DockerClient:
    """A client for DOCKER_HOST or the default socket, checked with a ping."""
    try:
        client = docker.from_env(timeout=timeout_s)
        client.ping()
    except docker.errors.DockerException as err:
        raise EngineUnavailable(unreachable_message(str(err))) from None
    return client


def unreachable_message(reason: str) -> str:
    host = os.environ.get("DOCKER_HOST")
    where = f"DOCKER_HOST={host}" if host else f"{DEFAULT_SOCKET} (DOCKER_HOST is not set)"
    return (f"cannot reach the Docker engine at {where}: {_short(reason)}\n"
            "  start Docker (`sudo systemctl start docker`, or as root `make docker` in the devstack repo), "
            "or point DOCKER_HOST at a running engine")


def _short(reason: str) -> str:
    # The SDK nests the urllib3 error several levels deep; the innermost clause is the useful one.
    for marker in ("FileNotFoundError", "ConnectionRefusedError", "PermissionError", "Connection refused"):
        if marker in reason:
            return {"FileNotFoundError": "the socket does not exist", "PermissionError": "permission denied"}.get(
                marker, "connection refused")
    return reason.splitlines()[0][:200]


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Engine errors (not devstack bugs) become one clear message naming what devstack was doing."""
    try:
        yield
    except docker.errors.APIError as err:
        if err.status_code == _UNAVAILABLE:  # e.g. "This node is not a swarm manager" while a restarted engine
            raise EngineUnavailable(f"the Docker engine could not {action} yet: {err.explanation or err}") from None
        raise DevstackError(f"the Docker engine refused to {action}: {err.explanation or err}") from None
    except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
        # A client made before the engine went away fails with requests' own errors, not the SDK's.
        raise EngineUnavailable(unreachable_message(str(err))) from None
