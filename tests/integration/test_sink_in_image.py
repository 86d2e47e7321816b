"""The sink's own test suite, run inside the base image that the sink's image is built on.

The sink reaches into aiosmtpd's internals in places (sink/devstack_sink/smtp.py), and those differ between
releases: the image has Debian's aiosmtpd and uvloop, this virtualenv the newest from PyPI. The demo's
integration tests only send well-formed mail through the image; this runs every path (hostile input, fault rules,
the hand-over to the task loop) against the image's versions. The test tools (pytest and its plugins) are copied
in from this virtualenv: they are pure Python, and the image has no network to install them.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
from pathlib import Path

import docker
import pytest
import requests

from tests.integration.conftest import REPO, base_image

# Distributions, copied whole (their metadata too: pytest finds plugins by entry point, and pytest-asyncio
# asks for its own version).
TEST_TOOLS = ("pytest", "pluggy", "iniconfig", "packaging", "pygments", "pytest-asyncio", "typing_extensions")
TIMEOUT_S = 120  # the suite takes about 10 s; a sink that hangs its clients would take forever


def copy_test_tools(into: Path) -> None:
    for name in TEST_TOOLS:
        distribution = importlib.metadata.distribution(name)
        for file in distribution.files or ():
            if ".." in file.parts or "__pycache__" in file.parts:
                continue  # scripts in bin/, and bytecode of this Python's build
            target = into / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(str(file.locate())), target)


def test_the_sink_suite_passes_with_the_images_aiosmtpd_and_uvloop(engine: docker.DockerClient,
                                                                   tmp_path: Path) -> None:
    image = base_image()
    if image is None:
        pytest.fail("needs the offline base image: run `make base-image` (or set DEVSTACK_BASE_IMAGE)")
    tools = tmp_path / "tools"
    tools.mkdir()
    copy_test_tools(tools)
    versions = engine.containers.run(image, ["python3", "-c", "import aiosmtpd, uvloop; "
                                             "print(aiosmtpd.__version__, uvloop.__version__)"],
                                     network_mode="none", remove=True).decode().split()
    command = ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto",
               "-o", "asyncio_default_fixture_loop_scope=function", "/work/tests/sink"]
    container = engine.containers.run(
        image, command, detach=True, network_mode="none", user="nobody", working_dir="/work",
        environment={"PYTHONPATH": "/work/sink:/tools", "PYTHONDONTWRITEBYTECODE": "1"},
        volumes={str(REPO / "sink"): {"bind": "/work/sink", "mode": "ro"},
                 str(REPO / "tests" / "sink"): {"bind": "/work/tests/sink", "mode": "ro"},
                 str(tools): {"bind": "/tools", "mode": "ro"}})
    try:
        try:
            outcome = f"exit {container.wait(timeout=TIMEOUT_S)['StatusCode']}"
        except requests.exceptions.RequestException:
            outcome = f"not finished within {TIMEOUT_S} s"
        output = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    tail = "\n".join(output.splitlines()[-30:])
    assert outcome == "exit 0", f"the sink's tests with aiosmtpd {versions[0]}, uvloop {versions[1]}: {outcome}\n{tail}"
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) >= 100, f"far fewer tests ran than the suite has:\n{tail}"
