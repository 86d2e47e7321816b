"""`down --images` on the real engine: tags are content hashes, so two projects built from the same files share
an image; removing one project's images must not fail while the other's container runs it."""

from __future__ import annotations

import io
import uuid

import docker
import pytest

from devstack.images import build
from tests.integration.conftest import base_image


def test_an_image_another_projects_container_runs_is_kept_and_said(engine: docker.DockerClient) -> None:
    project = f"it{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM {base_image() or 'devstack/base:bookworm'}\nLABEL {build.LABEL_PROJECT}={project}\n"
    image, _logs = engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=f"shared-{project}:1", rm=True)
    container = engine.containers.run(image.id, ["sleep", "60"], detach=True, labels={"owner": "another project"})
    try:
        removed, kept = build.remove_project_images(engine, project)
        assert (removed, kept) == (0, [f"kept image shared-{project}:1: a container of another project still uses it"])
    finally:
        container.remove(force=True)
    assert build.remove_project_images(engine, project) == (1, [])
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get(image.id)
