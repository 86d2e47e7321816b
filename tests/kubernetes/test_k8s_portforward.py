"""Port forwards over the v4.channel.k8s.io websocket protocol (the fake pod echoes with its name), and exec with
tar for live update, and restarts, on the fake API server for what a real one cannot show on demand: the error
channel of a port nothing listens on, the exact files and commands exec received. Following a rollout, live
update and the forwards' gap are tested on the real test cluster (tests/realkube)."""

from __future__ import annotations

import asyncio
import io
import socket
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from k8s_env import Env, up

from devstack.errors import DeployError
from devstack.observe.forwards import Forwards
from devstack.providers.kubernetes import livesync

FORWARDS = """
[[forwards]]
resource = "relay"
local = {relay}
remote = 8000

[[forwards]]
resource = "pod/{pod}"
local = {pod_port}
remote = 8025
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pod_of(env: Env, workload: str) -> str:
    return next(p["metadata"]["name"] for p in env.kube.store.list(env.kube.store.kind_of("Pod"), "demo")
                if p["metadata"]["name"].startswith(workload + "-"))


async def ask(port: int, data: bytes, done: Callable[[bytes], bool] = lambda answer: False) -> bytes:
    """What comes back for `data`, until `done` says it is all or the connection closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    answer = b""
    while not done(answer) and (chunk := await asyncio.wait_for(reader.read(65536), 5)):
        answer += chunk
    writer.close()
    return answer


async def test_forwards_reach_a_service_and_a_pod_through_the_websocket_stream(env: Env) -> None:
    relay_port, pod_port = free_port(), free_port()
    up(env).close()
    pod, sink = pod_of(env, "relay"), pod_of(env, "sink")
    provider = env.provider(env.config(extra=FORWARDS.format(relay=relay_port, pod=sink, pod_port=pod_port)))
    forwards = Forwards(provider.connect, lambda resource, message: None)
    try:
        await forwards.ensure(await asyncio.to_thread(provider.relayed))
        assert await ask(relay_port, b"hello", lambda answer: b"hello" in answer) == pod.encode() + b"|hello"
        # Large enough for 64-bit frame lengths, masked both ways: every byte comes back, in order.
        big = bytes(range(256)) * 1024
        prefix = pod.encode() + b"|"
        echoed = await ask(relay_port, big, lambda answer: len(answer.replace(prefix, b"")) >= len(big))
        assert echoed.replace(prefix, b"") == big
        assert await ask(pod_port, b"smtp?", lambda answer: b"?" in answer) == sink.encode() + b"|smtp?"
    finally:
        await forwards.close()
        provider.close()


async def test_forward_to_an_undeclared_port_reports_the_error_channel(env: Env) -> None:
    port = free_port()
    provider = up(env, extra=f"[[forwards]]\nresource = \"relay\"\nlocal = {port}\nremote = 9999\n")
    events: list[str] = []
    forwards = Forwards(provider.connect, lambda resource, message: events.append(message))
    try:
        await forwards.ensure(provider.relayed())
        assert await ask(port, b"hello") == b""  # closed: nothing listens on that port in the pod
    finally:
        await forwards.close()
        provider.close()
    assert len(events) == 1 and "error forwarding port 9999 to pod relay-" in events[0], events


def test_sync_copies_files_with_tar_through_exec_and_runs_the_restart_command(env: Env, tmp_path: Path) -> None:
    provider = up(env)
    source = tmp_path / "relay.py"
    source.write_text("print('v2')\n")
    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "site.css").write_text("body {}\n")
    gone = tmp_path / "old.py"  # deleted locally: removed in the container
    updated = provider.sync("relay", [(source, "/app/relay.py"), (static, "/app/static"), (gone, "/app/old.py")],
                            ["sh", "-c", "kill -HUP 1"])
    pod = pod_of(env, "relay")
    assert updated == [f"{pod}/relay"]
    files = env.kube.store.files[("demo", pod, "relay")]
    assert files["/app/relay.py"] == b"print('v2')\n" and files["/app/static/css/site.css"] == b"body {}\n"
    # One exec for the three steps: copy, remove, restart (only tar reads stdin).
    ((_pod, _container, command),) = env.kube.store.execs
    assert command[:2] == ["sh", "-c"] and [line.split(" || ")[0] for line in command[2].splitlines()] == [
        "tar -xf - -C /", "rm -rf -- /app/old.py </dev/null", "sh -c 'kill -HUP 1' </dev/null"]


def test_a_failing_step_is_named_and_stops_the_rest(env: Env, tmp_path: Path) -> None:
    provider = up(env)
    pod = pod_of(env, "relay")
    source = tmp_path / "relay.py"
    source.write_text("print('v3')\n")
    with pytest.raises(DeployError) as caught:
        provider.sync_files(pod, "relay", [(source, "/app/relay.py"), (tmp_path / "gone.py", "/app/gone.py")],
                            ["false"])
    message = str(caught.value)
    assert message.startswith(f"running `false` in pod {pod} container relay failed: exit code 1"), message
    assert "it failed on purpose" in message and "devstack-live-update-step" not in message
    assert env.kube.store.files[("demo", pod, "relay")]["/app/relay.py"] == b"print('v3')\n"  # the copy went in


def test_a_failing_exec_says_what_failed(env: Env, tmp_path: Path) -> None:
    provider = up(env)
    pod = pod_of(env, "relay")
    with pytest.raises(DeployError, match="exit code 1") as caught:
        provider.sync_files(pod, "relay", [], ["false"])
    assert "it failed on purpose" in str(caught.value)


def test_archive_uses_container_paths() -> None:
    data = livesync.archive([(Path(__file__), "/app/tests/x.py")])
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        (member,) = archive.getmembers()
    assert member.name == "app/tests/x.py" and member.uid == 0 and member.uname == ""
    with pytest.raises(DeployError, match="must be absolute"):
        livesync.archive([(Path(__file__), "app/x.py")])


def test_restart_patches_the_pod_template(env: Env) -> None:
    provider = up(env)
    provider.restart("relay")
    patch = env.kube.requests("PATCH", "/apis/apps/v1/namespaces/demo/deployments/relay")[-1]
    assert patch.headers["content-type"] == "application/strategic-merge-patch+json"
    deployment = env.kube.store.get(env.kube.store.kind_of("Deployment"), "demo", "relay")
    assert deployment is not None
    assert "kubectl.kubernetes.io/restartedAt" in deployment["spec"]["template"]["metadata"]["annotations"]
    with pytest.raises(DeployError, match="no Deployment, StatefulSet or DaemonSet"):
        provider.restart("nope")
