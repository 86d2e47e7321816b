"""An image built on another image of the project (`base = "tools"`), on the real engine: built after its base
and FROM it, even when devstack.toml lists it first; rebuilt when its base changes; not built when its base
fails, with both failures named."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.models.images
import pytest

from devstack.config import loader
from devstack.engine import converge
from devstack.errors import DevstackError
from devstack.images import build
from devstack.images.builder import DockerBuilder
from devstack.observe.console import Console
from tests.integration.conftest import base_image

pytestmark = pytest.mark.docker


class Layered:
    """Two images: `app` (listed first) is built on `tools`, which is built from the test base image."""

    def __init__(self, root: Path) -> None:
        self.root, self.project = root, f"ib{uuid.uuid4().hex[:8]}"
        self.write("tools/Dockerfile", "ARG BASE\nFROM ${BASE}\nCOPY tool.txt /srv/tool.txt\n")
        self.write("tools/tool.txt", "tool v1\n")
        self.write("app/Dockerfile", "ARG BASE\nFROM ${BASE}\nRUN cp /srv/tool.txt /srv/app.txt\n")
        self.write("stack.yml", "services:\n  app:\n    image: app\n")
        self.write("devstack.toml", f'[project]\nname = "{self.project}"\n\n[images.app]\ncontext = "app"\n'
                   f'base = "tools"\n\n[images.tools]\ncontext = "tools"\n'
                   f'args = {{ BASE = "{base_image() or "python:3.11-slim-bookworm"}" }}\n\n'
                   '[swarm]\nstack_file = "stack.yml"\n')

    def write(self, rel: str, text: str) -> None:
        (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.root / rel).write_text(text)

    def build(self) -> dict[str, str]:
        """Plan and build what is missing, as a pass of `ci` or `up` does; image name → tag."""
        config = loader.load(self.root / "devstack.toml", environ={})
        builder = DockerBuilder()
        image_plan = builder.plan(config)
        outcome = converge.Outcome()
        console = Console(io.StringIO(), tty=False)
        asyncio.run(converge.build_all(builder, image_plan.missing, self.project, console, outcome))
        return {t.spec.name: t.tag for t in image_plan.targets}


@pytest.fixture
def layered(tmp_path: Path, engine: docker.DockerClient) -> Iterator[Layered]:
    made = Layered(tmp_path)
    yield made
    build.remove_project_images(engine, made.project)


def run(engine: docker.DockerClient, tag: str) -> str:
    return bytes(engine.containers.run(tag, ["cat", "/srv/app.txt"], remove=True, network_mode="none")).decode()


def test_an_image_is_built_from_its_base_and_again_when_the_base_changes(layered: Layered, engine: docker.DockerClient,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    first = layered.build()
    assert run(engine, first["app"]) == "tool v1\n"

    layered.write("tools/tool.txt", "tool v2\n")
    second = layered.build()
    assert second["tools"] != first["tools"] and second["app"] != first["app"]
    assert run(engine, second["app"]) == "tool v2\n"

    layered.write("tools/Dockerfile", "ARG BASE\nFROM ${BASE}\nRUN exit 3\n")
    with pytest.raises(DevstackError) as failed:
        layered.build()
    message = str(failed.value)
    assert "image 'tools' failed to build at Step 2/2 : RUN exit 3" in message, message
    assert "exit code: 3" in message, message  # BuildKit's words for the step's exit code
    assert "app: not built: its base image tools did not build" in message

    # `down --images`: an image and the one built on it both go, even when the engine lists the base first (it
    # lists the newest first: reversed here) and refuses to remove it while the other exists.
    listed = docker.models.images.ImageCollection.list
    monkeypatch.setattr(docker.models.images.ImageCollection, "list",
                        lambda self, **kwargs: list(reversed(listed(self, **kwargs))))
    removed, kept = build.remove_project_images(engine, layered.project)
    monkeypatch.undo()
    assert (removed, kept) == (4, [])
    assert engine.images.list(filters={"label": f"{build.LABEL_PROJECT}={layered.project}"}) == []
