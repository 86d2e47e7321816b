"""Apply a rendered stack with `docker stack deploy` (the compose-to-services translation stays Docker's), and
tell from the services' digest labels whether the engine already runs exactly that."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import docker
import docker.errors

from devstack import blocking, labels
from devstack.errors import DeployError, EngineUnavailable

_RETRIES = 10  # right after a `stack rm` the old network can linger; Docker then says "network … not found"


def is_current(client: docker.DockerClient, project: str, services: tuple[str, ...], digest: str) -> bool:
    """True when exactly these services exist and all were deployed from this digest."""
    found = client.services.list(filters={"label": labels.selector(project)})
    deployed = {s.name: s.attrs["Spec"].get("Labels", {}).get(labels.DIGEST) for s in found}
    return deployed == {f"{project}_{name}": digest for name in services}


def existing(client: docker.DockerClient, project: str) -> frozenset[str]:
    """The project's services that exist now, by their names in the stack file."""
    found = client.services.list(filters={"label": labels.selector(project)})
    return frozenset(s.name.removeprefix(f"{project}_") for s in found)


def apply(rendered: Path, project: str, *, prune: bool = True) -> None:
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        raise EngineUnavailable("the `docker` command is not installed; devstack uses it for `docker stack deploy` "
                                "(Debian: `apt-get install docker.io`, or install Docker Engine)")
    command = [docker_cli, "stack", "deploy", "--detach=true", *(["--prune"] if prune else []),
               "--resolve-image", "never", "--compose-file", str(rendered), project]
    for attempt in range(_RETRIES):
        result = blocking.run(command)
        if result.returncode == 0:
            return
        if not _network_race(result.stderr) or attempt == _RETRIES - 1:
            raise DeployError(f"docker stack deploy of '{project}' failed:\n  {result.stderr.strip()}")
        blocking.sleep(1)


def prune_configs(client: docker.DockerClient, project: str, keep: set[str]) -> None:
    """Remove the project's configs that the deployed stack no longer names: the outdated versions of an edited
    file (stackfile names configs after their content). One still in use is left for `down`."""
    for config in client.configs.list(filters={"label": labels.selector(project)}):
        if config.name not in keep:
            with contextlib.suppress(docker.errors.APIError):
                config.remove()


def _network_race(stderr: str) -> bool:
    return "network" in stderr and "not found" in stderr
