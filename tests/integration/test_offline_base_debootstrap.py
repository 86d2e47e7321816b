"""A real base-image build: debootstrap from Debian's mirror, import into the local engine, run the result.

It downloads ~100 MB and takes a minute or two, so it only runs when asked:

    DEVSTACK_TEST_DEBOOTSTRAP=1 pytest tests/integration/test_offline_base_debootstrap.py

It needs root, debootstrap and a running engine. It builds a throwaway tag, never devstack/base:bookworm.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from devstack.images.offline_base import OfflineBase

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(
        os.environ.get("DEVSTACK_TEST_DEBOOTSTRAP") != "1", reason="slow: set DEVSTACK_TEST_DEBOOTSTRAP=1"
    ),
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("debootstrap"), reason="needs root and debootstrap"),
]


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


def test_builds_a_base_image_that_runs_python(client: docker.DockerClient) -> None:
    base = OfflineBase(image=f"devstack/base-test:{uuid.uuid4().hex[:8]}")
    lines: list[str] = []
    try:
        assert base.ensure(client, log=lines.append) is True
        image = client.images.get(base.image)
        assert image.labels["dev.devstack.base"] == "1"
        assert "PYTHONUNBUFFERED=1" in image.attrs["Config"]["Env"]
        script = "import aiosmtpd, uvloop, ssl, sys; print(sys.version_info[:2])"
        output = client.containers.run(base.image, ["python3", "-c", script], network_mode="none", remove=True)
        assert output.strip() == b"(3, 11)"
        assert base.ensure(client, log=lines.append) is False  # already there
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(base.image)
    assert not any(name.startswith("devstack-base-") for name in os.listdir(base.workdir))
