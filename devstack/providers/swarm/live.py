"""Live update on swarm: copy changed files into the running containers of an image and run its restart
command, with no build and no service update. Like Tilt's live_update, the change lives in the containers
until the next rebuild (which includes it) or until swarm replaces a task."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence
from pathlib import Path

import docker

from devstack import labels
from devstack.errors import DeployError
from devstack.formats import reference


def sync(client: docker.DockerClient, project: str, ref: str, files: Sequence[tuple[Path, str]],
         restart: Sequence[str]) -> list[str]:
    """Update every running container of `project` whose image is `ref`; the names of those updated."""
    containers = [c for c in client.containers.list(filters={"label": labels.selector(project)})
                  if reference.repository(c.attrs["Config"]["Image"]) == reference.repository(ref)]
    archive = _tar(files)
    for container in containers:
        if not container.put_archive("/", archive):
            raise DeployError(f"live update: copying into {container.name} failed")
        if restart:
            code, output = container.exec_run(list(restart))
            if code != 0:
                text = output.decode("utf-8", "replace").strip()[-500:]
                raise DeployError(f"live update: `{' '.join(restart)}` in {container.name} exited {code}: {text}")
    return [c.name for c in containers]


def exec_in(client: docker.DockerClient, service: str, command: Sequence[str]) -> tuple[int, str]:
    """Run `command` in a running task's container of `service`: its exit code and what it printed."""
    running = client.containers.list(filters={"label": f"com.docker.swarm.service.name={service}",
                                              "status": "running"})
    if not running:
        raise DeployError(f"{service}: no running container to exec in")
    code, output = running[0].exec_run(list(command))
    return int(code), output.decode("utf-8", "replace")


def _tar(files: Sequence[tuple[Path, str]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for local, remote in files:
            info = archive.gettarinfo(str(local), arcname=remote.lstrip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with local.open("rb") as handle:
                archive.addfile(info, handle)
    return buffer.getvalue()
