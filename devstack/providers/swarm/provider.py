"""The `swarm` provider: a single-node Docker Swarm on the local engine, deployed from a compose/stack file."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import docker

from devstack import blocking, labels
from devstack.config.model import Config, Forward
from devstack.errors import DeployError, PortInUse, ReadinessError
from devstack.images import docker_engine
from devstack.networking import ports
from devstack.networking.channel import TcpChannel, open_tcp
from devstack.providers import readiness as ready
from devstack.providers.base import DeployPlan, DownOptions, DownReport, LogLine, ResourceStatus, silent
from devstack.providers.swarm import (
    cluster,
    deploy,
    events,
    live,
    logs,
    readiness,
    secrets,
    sharing,
    stackfile,
    teardown,
)
from devstack.providers.swarm.stackfile import Rendered

_LOG_TAIL = 20


class SwarmProvider:
    name = "swarm"

    def __init__(self, config: Config) -> None:
        if config.swarm is None:
            raise DeployError("provider 'swarm' needs a [swarm] table with stack_file")
        self.config = config
        self.project = config.project
        self.stack_file = config.swarm.stack_file
        self._client: docker.DockerClient | None = None
        self._applied_at: datetime | None = None
        self.created_swarm = False
        self._published: dict[int, int] = {}  # a relayed forward's local port → where its target is published

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker_engine.connect()
        return self._client

    def prepare(self, note: Callable[[str], None] = silent) -> None:
        """`docker swarm init` takes a moment: no note."""
        with docker_engine.translated("set up the swarm"):
            self.created_swarm = cluster.ensure(self.client)

    def deliver(self, tags: Sequence[str]) -> None:
        """Swarm runs on the engine that built the images: nothing to move."""

    def plan(self, images: Mapping[str, str]) -> DeployPlan:
        rendered = self._render(images)
        with docker_engine.translated("list the project's services"):
            current = deploy.is_current(self.client, self.project, rendered.services, rendered.digest)
            if not current:
                self._check_ports_free(rendered)
        runs = {name: str(spec.get("image", "")) for name, spec in rendered.document["services"].items()}
        return DeployPlan(resources=rendered.services, digest=rendered.digest, changed=not current, images=images,
                          resource_images=runs, rendered=rendered)

    def apply(self, plan: DeployPlan, resources: Collection[str] | None = None) -> list[str]:
        self._applied_at = datetime.now(UTC)
        rendered = plan.rendered
        assert isinstance(rendered, Rendered), "a plan made by this provider"
        swarm_secrets = self._swarm_secrets()
        document = rendered.document
        with docker_engine.translated("create the project's secrets"):
            for name in stackfile.used_dev_secrets(document, swarm_secrets):
                secrets.ensure(self.client, self.project, swarm_secrets[name], self._dev_secrets()[name])
        if resources is None:
            deploy.apply(self._write(rendered.text()), self.project)
        else:  # a stage of a deploy in dependency order: hold the others back, prune nothing yet
            with docker_engine.translated("list the project's services"):
                existing = deploy.existing(self.client, self.project)
            held = stackfile.holding(rendered, frozenset(resources), existing)
            deploy.apply(self._write(held.text()), self.project, prune=False)
            return []
        with docker_engine.translated("remove outdated configs"):
            deploy.prune_configs(self.client, self.project, stackfile.config_names(document, self.project))
        return []  # `docker stack deploy`'s own warnings are in its output, which a failure shows

    def wait_ready(self, plan: DeployPlan, timeout_s: float, resources: Collection[str] | None = None,
                   settle_s: float = 0.0) -> None:
        names = plan.resources if resources is None else tuple(r for r in plan.resources if r in resources)
        with docker_engine.translated("report the services' state"):
            self._wait_ready(names, timeout_s, settle_s)

    def _wait_ready(self, resources: Sequence[str], timeout_s: float, settle_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        names = [self._service(name) for name in resources]
        ready.wait(ready.Probe(
            assess=lambda: [(name, readiness.state(self.client, name, self._applied_at)) for name in names],
            pause=lambda _remaining: blocking.sleep(readiness.POLL_S),  # the engine's events say too little
            evidence=lambda name, state: self._logs(name, container=state.container)), timeout_s, settle_s)
        for name in names:
            ports = readiness.published_tcp_ports(self.client, name)
            port = readiness.wait_ports(sorted(ports), deadline)
            if port is not None:
                problem = readiness.port_problem(port, ports[port])
                raise ReadinessError(name, f"not ready after {timeout_s:.0f}s: {problem}", self._logs(name))

    def status(self) -> list[ResourceStatus]:
        with docker_engine.translated("report the services' state"):
            if not cluster.is_manager(self.client):
                return []  # no swarm: nothing of this project can be deployed
            found = self.client.services.list(filters={"label": labels.selector(self.project)})
            return [self._status(service.name) for service in sorted(found, key=lambda s: s.name)]

    def logs(self, resource: str, tail: int = _LOG_TAIL) -> list[str]:
        return self._logs(self._service(resource), tail)

    def log_lines(self, resource: str, tail: int | None, since: float | None) -> list[LogLine]:
        with docker_engine.translated("read the logs"):
            return list(logs.lines(self.client, self._service(resource), tail=tail, since=since, follow=False))

    def follow_logs(self, resource: str, since: float | None = None) -> Iterator[LogLine]:
        with docker_engine.translated("stream the logs"):
            yield from logs.lines(self.client, self._service(resource), tail=None, since=since, follow=True)

    def exec(self, resource: str, command: Sequence[str]) -> tuple[int, str]:
        with docker_engine.translated("run the command in the service's container"):
            return live.exec_in(self.client, self._service(resource), command)

    def sync(self, ref: str, files: Sequence[tuple[Path, str]], restart: Sequence[str]) -> list[str]:
        with docker_engine.translated("live-update the containers"):
            return live.sync(self.client, self.project, ref, files, restart)

    def wait_for_change(self, timeout_s: float) -> bool:
        """Docker events about the project's services and containers, for `timeout_s`."""
        with docker_engine.translated("watch the engine's events"):
            return events.changed(self.client, self.project, timeout_s)

    def restart(self, resource: str) -> None:
        """Replace the resource's tasks even though nothing changed (`devstack trigger`)."""
        with docker_engine.translated("restart the service"):
            self._applied_at = datetime.now(UTC)  # the tasks to wait for are those created from now on
            self.client.services.get(self._service(resource)).force_update()

    def relayed(self) -> tuple[Forward, ...]:
        """The forwards whose target the stack file publishes at another port than `local` (the others the
        engine serves itself, published at `local` by the rendered stack file)."""
        published = stackfile.endpoints(self._render({}).document)
        self._published = {f.local: published[key] for f in self.config.forwards
                           if (key := f"{f.resource}:{f.remote}") in published and published[key] != f.local}
        return tuple(f for f in self.config.forwards if f.local in self._published)

    async def connect(self, forward: Forward) -> TcpChannel:
        """A connection to where the engine publishes the target on 127.0.0.1."""
        if forward.local not in self._published:
            self.relayed()  # a provider made anew by a config reload: read the stack file once
        if forward.local not in self._published:
            raise DeployError(f"forward 127.0.0.1:{forward.local}: the engine serves it itself, not devstack")
        return await open_tcp(self._published[forward.local], f"{forward.resource}:{forward.remote}")

    async def disconnect(self) -> None:
        """Nothing to close: each connection is a TCP connection of its own."""

    def close(self) -> None:
        """Nothing runs in the background: log followers belong to the daemon."""

    def down(self, options: DownOptions) -> DownReport:
        with docker_engine.translated("remove the project's objects"):
            return teardown.down(self.client, self.project, options)

    def _check_ports_free(self, rendered: Rendered) -> None:
        """Before any build: a port the stack publishes that something else holds would leave the task pending
        ("host-mode port already in use"); say which port and who holds it instead. Another stack's service holds
        its published ports even while no task of it runs (held back, restarting): no bind test sees those."""
        published = sharing.published_ports(self.client)
        for endpoint, port in sorted(stackfile.endpoints(rendered.document).items()):
            other = published.get(port)
            if other is not None and other.project == self.project:
                continue  # ours: the deploy updates it
            where = f"{self.config.display(self.stack_file)}: {endpoint} is published at port {port}"
            if other is not None:
                raise PortInUse(f"{where}, which service {other.service} of {other.owner} publishes already: stop it, "
                                "or publish another port")
            if ports.in_use(port):
                raise PortInUse(f"{where}, which is already in use{ports.holder(port)}: free it, or publish another "
                                "port")

    def _dev_secrets(self) -> dict[str, str]:
        return {name: secret.value for name, secret in self.config.dev_secrets.items()}

    def _swarm_secrets(self) -> dict[str, str]:
        """Dev secret → its swarm secret. Swarm secrets are immutable: a new value gets a new name (and so
        redeploys what uses it)."""
        return {name: secrets.swarm_name(self.project, name, value) for name, value in self._dev_secrets().items()}

    def _service(self, resource: str) -> str:
        return f"{self.project}_{resource}"

    def _render(self, images: Mapping[str, str]) -> Rendered:
        inputs = stackfile.Inputs(project=self.project, variables=self.config.variables, images=images,
                                  forwards=self.config.forwards, config_file=self.config.file.name,
                                  secrets=self._swarm_secrets(), disabled=self.config.disabled)
        return stackfile.render(self.stack_file, self.config.display(self.stack_file), inputs)

    def _write(self, document: str) -> Path:
        # May hold substituted secrets: readable by the owner only.
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.config.state_dir / "stack.rendered.yml"
        path.touch(mode=0o600)
        path.write_text(document, encoding="utf-8")
        return path

    def _status(self, name: str) -> ResourceStatus:
        spec = self.client.api.inspect_service(name)
        state = readiness.state(self.client, name, None)
        ports = tuple(f"127.0.0.1:{p['PublishedPort']}->{p['TargetPort']}/{p.get('Protocol', 'tcp')}"
                      for p in spec.get("Endpoint", {}).get("Ports", []) or [])
        return ResourceStatus(
            name=name.removeprefix(f"{self.project}_"), ready=state.ready, running=state.running, desired=state.desired,
            image=spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"], updated_at=spec["UpdatedAt"],
            ports=ports, message="" if state.ready else state.reason, started_at=state.started_at)

    def _logs(self, service: str, tail: int = _LOG_TAIL, container: str = "") -> list[str]:
        """The service's last log lines; with `container`, that task's own (no predecessor's mixed in), or the
        service's when the engine has pruned the container already."""
        options = {"stdout": True, "stderr": True, "tail": tail, "timestamps": False}
        try:
            text = self.client.api.logs(container, **options).decode("utf-8", "replace") if container else ""
        except docker.errors.NotFound:
            text = ""
        try:
            if not text:
                text = b"".join(self.client.api.service_logs(service, **options)).decode("utf-8", "replace")
        except docker.errors.APIError:
            return []
        return text.splitlines()[-tail:]
