"""The kumod stand-in (stacks/kumomta/standins/kumomta) keeps what the recorded contract cases
(test_kumomta_contract.py) cannot show in one request: basic auth against the mounted key files (a user name is
never a path), one SMTP delivery per recipient with the spool emptied after it, and a spool that keeps messages
across a restart until the sink takes them. Plain containers on a network this test creates, beside the real sink.
(The same images run on the real cluster in tests/realkube/test_kumomta_on_cluster.py.)"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from docker.models.containers import Container

from tests.integration.conftest import REPO, base_image

PAYLOAD = json.loads((REPO / "stacks" / "kumomta" / "smoke" / "inject.json").read_text())
POLICY = REPO / "stacks" / "kumomta" / "k8s" / "policy"
USER, KEYS = "devstack", ["first-key", "second-key"]


@dataclass
class Stack:
    kumod: Container
    kumod_url: str
    sink: Container
    sink_url: str
    spool: Path

    def stats(self) -> int:
        return int(httpx.get(f"{self.sink_url}/stats").json()["recipients"])

    def spooled(self) -> list[Path]:
        return list((self.spool / "standin").glob("*.json"))

    def inject(self, auth: tuple[str, str] | None = (USER, KEYS[1])) -> httpx.Response:
        return httpx.post(f"{self.kumod_url}/api/inject/v1", json=PAYLOAD, auth=auth, timeout=10)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def build(engine: docker.DockerClient, context: Path, dockerfile: str, tag: str) -> str:
    args = {"BASE": base_image() or "python:3.11-slim-bookworm"}
    engine.images.build(path=str(context), dockerfile=dockerfile, tag=tag, buildargs=args, rm=True)
    return tag


@pytest.fixture(scope="module")
def images(engine: docker.DockerClient) -> Iterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    built = {"standin": build(engine, REPO / "stacks" / "kumomta" / "standins" / "kumomta", "Dockerfile",
                              f"devstack-test/kumomta-standin:{suffix}"),
             "sink": build(engine, REPO / "sink", "Dockerfile", f"devstack-test/sink:{suffix}")}
    yield built
    for tag in built.values():
        engine.images.remove(tag, force=True)


def published(container: Container, port: int) -> str:
    container.reload()
    return f"http://127.0.0.1:{container.ports[f'{port}/tcp'][0]['HostPort']}"


@pytest.fixture(scope="module")
def stack(engine: docker.DockerClient, images: dict[str, str], tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[Stack]:
    """One set of containers for the module (starting them is most of its time); the restart test runs last."""
    tmp_path = tmp_path_factory.mktemp("kumomta-standins")
    keys, spool = tmp_path / "keys", tmp_path / "spool"
    keys.mkdir()
    spool.mkdir()
    (keys / USER).write_text("\n".join(KEYS) + "\n")
    network = engine.networks.create(f"kumo-standin-{uuid.uuid4().hex[:8]}")
    started: list[Container] = []

    def run(image: str, alias: str, *ports: int, **kwargs: Any) -> Container:
        container = engine.containers.run(image, detach=True, network=network.name,
                                          ports={f"{port}/tcp": ("127.0.0.1", None) for port in ports}, **kwargs)
        network.disconnect(container)
        network.connect(container, aliases=[alias])
        started.append(container)
        return container

    try:
        policy = {str(POLICY): {"bind": "/opt/kumomta/etc/policy", "mode": "ro"}}
        sink = run(images["sink"], "sink", 8025, environment={"SINK_LISTEN": "0.0.0.0:25"})
        sink.reload()
        sink_ip = sink.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        kumod = run(images["standin"], "kumod", 8000, volumes={
            **policy, str(keys): {"bind": "/opt/kumomta/etc/http_listener_keys", "mode": "ro"},
            str(spool): {"bind": "/var/spool/kumomta", "mode": "rw"}},
            environment={"KUMOMTA_SINK_HOST": "sink", "KUMOMTA_TRUSTED_HOSTS": "", "KUMOMTA_RELAY_HOSTS": sink_ip,
                         "KUMOMTA_TSA_PUBLISH_HOSTS": ""})
        found = Stack(kumod, published(kumod, 8000), sink, published(sink, 8025), spool)
        wait_for(lambda: httpx.get(f"{found.kumod_url}/api/check-liveness/v1").status_code == 200, "kumod")
        wait_for(lambda: httpx.get(f"{found.sink_url}/healthz").status_code == 200, "the sink")
        yield found
    finally:
        for container in started:
            container.remove(force=True)
        network.remove()


def test_an_injection_is_delivered_to_the_sink_once_per_recipient(stack: Stack) -> None:
    before = stack.stats()
    answer = stack.inject()
    assert answer.status_code == 200
    assert answer.json() == {"success_count": 2, "fail_count": 0, "failed_recipients": [], "errors": []}
    wait_for(lambda: stack.stats() == before + 2, "2 recipients at the sink")
    # The sink counts a message before kumod hears its 250 and removes the spooled copy.
    wait_for(lambda: not stack.spooled(), "delivered messages to leave the spool")


@pytest.mark.parametrize("auth", [None, (USER, "wrong"), ("nobody", KEYS[0]), (USER, ""),
                                  # a user name that is a path: a line of another mounted file must not pass
                                  ("../policy/queues.toml", 'default_tenant = "devstack"')],
                         ids=["no-auth", "wrong-key", "unknown-user", "empty-key", "path-as-user"])
def test_injection_needs_a_listener_key(stack: Stack, auth: tuple[str, str] | None) -> None:
    before = stack.stats()
    answer = stack.inject(auth)
    assert (answer.status_code, answer.text) == (401, "Invalid Authorization" if auth else
                                                 "Missing Authorization header")
    time.sleep(0.3)
    assert stack.stats() == before
    assert not stack.spooled()


def test_kcli_queue_summary_shows_what_waits_in_the_spool(stack: Stack) -> None:
    """`devstack run queues` execs kcli in a kumod pod: the stand-in's kcli counts the spooled messages by queue."""
    stack.sink.stop(timeout=2)
    assert stack.inject((USER, KEYS[0])).json()["success_count"] == 2
    code, output = stack.kumod.exec_run(["/opt/kumomta/sbin/kcli", "--endpoint", "http://127.0.0.1:8001",
                                         "queue-summary"])
    text = output.decode()
    assert code == 0, text
    domains = sorted({r["email"].rpartition("@")[2] for r in PAYLOAD["recipients"]})
    for domain in domains:
        count = sum(r["email"].endswith("@" + domain) for r in PAYLOAD["recipients"])
        assert any(line.split() == [domain, str(count)] for line in text.splitlines()), text
    stack.sink.start()
    stack.sink_url = published(stack.sink, 8025)
    wait_for(lambda: not stack.spooled(), "delivered messages to leave the spool")
    code, output = stack.kumod.exec_run(["/opt/kumomta/sbin/kcli", "queue-summary"])
    assert code == 0 and "(no message waiting" in output.decode()


def test_the_spool_keeps_messages_until_the_sink_takes_them_across_a_restart(stack: Stack) -> None:
    stack.sink.stop(timeout=2)
    answer = stack.inject((USER, KEYS[0]))
    assert answer.json()["success_count"] == 2  # accepted into the spool, as kumod answers
    assert len(stack.spooled()) == 2
    stack.kumod.restart(timeout=2)
    stack.sink.start()  # with new counters, on a new host port
    stack.sink_url = published(stack.sink, 8025)
    wait_for(lambda: httpx.get(f"{stack.sink_url}/healthz").status_code == 200, "the sink")
    wait_for(lambda: stack.stats() == 2, "the spooled messages at the sink")
    assert "2 message(s) left in the spool" in stack.kumod.logs().decode()
    wait_for(lambda: not stack.spooled(), "delivered messages to leave the spool")

