"""The daemon's port forwards on the real test cluster, as `up` serves them: SPDY streams tunnelled through one
websocket per pod (what kubectl speaks since Kubernetes 1.30), checked from the pod's side. The sink counts the
SMTP connections it accepted, so a forward that opened connections of its own (a websocket per connection dials
the pod at once) would show there; the relay answers HTTP for a client that half-closes after its request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from devstack.config import kubernetes as kube_config
from devstack.config import loader
from devstack.observe.forwards import Forwards
from devstack.providers import registry
from devstack.providers.base import Provider
from tests.integration.conftest import free_port
from tests.realkube.conftest import LABEL, KubeProject


@asynccontextmanager
async def forwarding(project: KubeProject, events: list[str]) -> AsyncIterator[Provider]:
    """The project's [[forwards]] served as the daemon serves them, by its provider in this process."""
    config = kube_config.on_context(loader.load(project.root / "devstack.toml", environ=project.env),
                                    project.cluster.context)
    provider = registry.create(config)
    forwards = Forwards(provider.connect, lambda resource, message: events.append(message), provider.disconnect)
    try:
        await forwards.ensure(await asyncio.to_thread(provider.relayed))
        yield provider
    finally:
        await forwards.close()
        provider.close()


async def smtp_session(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        banner = await asyncio.wait_for(reader.readline(), 10)
        writer.write(b"QUIT\r\n")
        await writer.drain()
        await asyncio.wait_for(reader.readline(), 10)
        return banner
    finally:
        writer.close()


async def http(port: int, request: bytes, *, half_close: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        if half_close:
            writer.write_eof()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def accepted(project: KubeProject) -> int:
    """How many SMTP connections the sink has accepted so far, from its own /stats."""
    answer = await http(project.port("SINK_HTTP_PORT"), b"GET /stats HTTP/1.0\r\n\r\n")
    return int(json.loads(answer.split(b"\r\n\r\n", 1)[1])["connections"])


@pytest.fixture
def deployed(kube_demo: KubeProject, monkeypatch: pytest.MonkeyPatch) -> KubeProject:
    monkeypatch.setenv("KUBECONFIG", kube_demo.env["KUBECONFIG"])
    result = kube_demo.devstack("ci", "--timeout", "300")
    assert result.returncode == 0, result.stdout + result.stderr
    return kube_demo


async def test_the_pod_sees_the_clients_connections_and_no_others(deployed: KubeProject) -> None:
    events: list[str] = []
    async with forwarding(deployed, events):
        smtp = deployed.port("SINK_SMTP_PORT")
        before = await accepted(deployed)
        banners = [await smtp_session(smtp) for _ in range(5)]
        assert all(banner.startswith(b"220 ") for banner in banners), banners
        # Kept open between connections, the tunnel itself made none: five clients, five connections.
        assert await accepted(deployed) - before == 5
        await asyncio.sleep(1)
        assert await accepted(deployed) - before == 5
    assert events == []


async def test_a_client_that_half_closes_still_gets_its_answer(deployed: KubeProject) -> None:
    events: list[str] = []
    async with forwarding(deployed, events):
        answer = await http(deployed.port("RELAY_PORT"), b"GET /healthz HTTP/1.0\r\n\r\n", half_close=True)
    assert answer.startswith(b"HTTP/1.0 200") and answer.endswith(b"ok\n"), answer


async def test_a_port_nothing_listens_on_is_reported_with_the_kubelets_reason(deployed: KubeProject) -> None:
    profile, port = deployed.root / "devstack.toml", free_port()
    profile.write_text(profile.read_text() + f'\n[[forwards]]\nresource = "sink"\nlocal = {port}\nremote = 9\n')
    events: list[str] = []
    async with forwarding(deployed, events):
        assert await http(port, b"hello") == b""  # the client's connection just closes
        assert await smtp_session(deployed.port("SINK_SMTP_PORT")), "the tunnel serves the other ports still"
    # The pod it tried, and the container runtime's words for what happened there.
    assert len(events) == 1 and "forward to sink-" in events[0], events
    assert "error forwarding port 9" in events[0] and "connection refused" in events[0], events


async def test_the_next_connection_after_a_rollout_reaches_the_new_pod(deployed: KubeProject) -> None:
    events: list[str] = []
    async with forwarding(deployed, events):
        smtp = deployed.port("SINK_SMTP_PORT")
        await smtp_session(smtp)
        (old,) = [p["metadata"]["name"] for p in deployed.pods("sink")]
        await asyncio.to_thread(deployed.kubectl, "rollout", "restart", "deployment/sink")
        await asyncio.to_thread(deployed.kubectl, "rollout", "status", "deployment/sink", "--timeout=120s")
        for _ in range(50):  # bounded: connections may fail while the old pod goes
            try:
                if (await smtp_session(smtp)).startswith(b"220 ") and await accepted(deployed) <= 2:
                    break  # a fresh sink: it counts only what came since it started
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                pass
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("no connection reached the new pod within 50 tries")
        assert old not in [p["metadata"]["name"] for p in deployed.pods("sink")]


async def test_a_pod_replaced_under_its_own_name_is_reached_anew(deployed: KubeProject) -> None:
    """As a StatefulSet replaces its pods: a new pod with the old one's name. The next connection reaches the new
    pod, not a tunnel kept to the old one's closed sandbox."""
    sink = deployed.pods("sink")[0]
    containers = [{k: v for k, v in c.items() if k != "volumeMounts"} for c in sink["spec"]["containers"]]
    manifest = deployed.root / "same-name.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": containers},
                                    "metadata": {"name": "sink-same", "labels": {LABEL: deployed.name}}}))

    def create() -> None:
        deployed.kubectl("create", "-f", str(manifest))
        deployed.kubectl("wait", "--for=condition=Ready", "pod/sink-same", "--timeout=120s")

    await asyncio.to_thread(create)
    profile, port = deployed.root / "devstack.toml", free_port()
    profile.write_text(profile.read_text() + f'\n[[forwards]]\nresource = "pod/sink-same"\nlocal = {port}\n'
                       'remote = 2525\n')
    events: list[str] = []
    async with forwarding(deployed, events):
        assert (await smtp_session(port)).startswith(b"220 ")
        await asyncio.to_thread(deployed.kubectl, "delete", "pod", "sink-same", "--wait=true")
        await asyncio.to_thread(create)
        for _ in range(50):  # bounded: the first connection may go to the old pod's tunnel and fail
            try:
                if (await smtp_session(port)).startswith(b"220 "):
                    break
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                pass
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"no connection reached the new sink-same within 50 tries: {events[-3:]}")
