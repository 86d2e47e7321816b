"""A push to the cluster's registry, by the real Docker engine: a registry that is not there (stopped, restarting)
fails the push as a temporary error, which the daemon tries again with backoff and no edit."""

from __future__ import annotations

import contextlib
import uuid

import docker
import pytest

from devstack.errors import DeployError, RegistryUnavailable, is_temporary
from devstack.providers.kubernetes import delivery
from devstack.providers.kubernetes.clusters import Registry
from tests.integration.conftest import base_image, free_port


def test_a_push_to_a_registry_that_is_not_there_is_tried_again() -> None:
    base = base_image()
    if base is None:
        pytest.fail("this test pushes the offline base image: run `make base-image` (make test does)")
    client = docker.from_env()
    version, registry = uuid.uuid4().hex[:12], Registry(f"127.0.0.1:{free_port()}", "")
    client.images.get(base).tag("devstack-test-push", version)
    try:
        with pytest.raises(RegistryUnavailable) as caught:  # not a DeployError, which waits for an edit
            delivery.push([f"devstack-test-push:{version}"], registry)
        assert is_temporary(caught.value) and not isinstance(caught.value, DeployError), caught.value
        assert "connection refused" in str(caught.value) and "devstack tries again" in str(caught.value)
    finally:
        for ref in (f"devstack-test-push:{version}", f"{registry.push}/devstack-test-push:{version}"):
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(ref)
        client.close()
