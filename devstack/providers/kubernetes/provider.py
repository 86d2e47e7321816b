"""The Kubernetes providers (`kind`, `k3d`, `minikube`, `context`): one class, four kinds of cluster, and a thin
facade: each duty is a module of its own, and every reader of the cluster's objects reads the one watch cache.

prepare creates a kind/k3d/minikube cluster when absent and connects through the configured context only
(after the context guard said yes); deliver pushes or loads images; plan renders the manifests and compares
digests; apply applies server-side and prunes, restart patches the pod template (apply.py); wait_ready waits on
the watch cache for the rollouts, then for the Services' endpoints (readiness.py, routing.py); status, the change
wait, live update and exec read the project's objects through the watch cache (view.py, workloads.py);
follow_logs streams the pods the cache sees come and go (logs.py); connect opens a port-forward stream to a
current pod the cache names (portforward.py). Beyond the Protocol: sync_files (live update of one container).

The watch cache (watchcache.py) holds a watch per namespace and kind. What lasts holds its keys for as long as
it lasts: the change wait (the daemon's observer) the project's keys (the namespaces and workload kinds of every
plan so far, with their pods) from its first call until `close`, the forwards their namespace's pods and
Services, a readiness wait or a log follower what it reads while it runs. Every other reader (status, live
update, exec, logs) reads the cache where it watches already and asks the server otherwise, so a command that
runs once starts no watch that outlives it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path

from devstack import blocking, labels
from devstack.config import secret_store as dev_secrets
from devstack.config.model import Config, Forward, KubernetesSpec
from devstack.errors import DeployError, EngineUnavailable
from devstack.networking.channel import Channel
from devstack.providers.base import DeployPlan, DownOptions, DownReport, LogLine, ResourceStatus, silent
from devstack.providers.kubernetes import (
    apply,
    clusters,
    delivery,
    guard,
    livesync,
    manifests,
    portforward,
    readiness,
    render,
    routing,
    teardown,
    workloads,
)
from devstack.providers.kubernetes import logs as pod_logs
from devstack.providers.kubernetes.api import Api, connect
from devstack.providers.kubernetes.discovery import Discovery, Resource
from devstack.providers.kubernetes.view import ProjectView, resource_name
from devstack.providers.kubernetes.watchcache import WatchCache

_LOG_TAIL = 20


class KubernetesProvider:
    def __init__(self, config: Config, *, allow_context: str | None = None,
                 wait: readiness.Options | None = None) -> None:
        if config.kubernetes is None:
            raise DeployError(f"provider {config.provider!r} needs a [kubernetes] table")
        self.name = config.provider
        self.config, self.spec, self.project = config, config.kubernetes, config.project
        # Before anything touches a cluster: refuse a context that is not a dev cluster.
        guard.check(self.spec.context, self.spec.allowed_contexts, allow_context)
        self.cluster = clusters.for_spec(config.provider, self.spec)
        self.wait_options = wait or readiness.Options()
        self.created_cluster = False
        self._api: Api | None = None
        self._discovery: Discovery | None = None
        self._view: ProjectView | None = None  # the project's objects, through the watch cache
        self._follows: pod_logs.Follows | None = None
        self._registry: clusters.Registry | None = None
        self._delivered: set[str] = set()  # image refs the nodes have, pushed or found there
        self._prune_kinds: tuple[Resource, ...] | None = None  # where a prune looks (None: everywhere)
        self._forwarder: portforward.Forwarder | None = None  # made by the first connect, on the daemon's loop
        self._warned: set[str] = set()  # the server's warnings already shown
        self._note: Callable[[str], None] = silent  # prepare's: tells the user of long steps
        self._lock = threading.Lock()
        self._closed = threading.Event()

    @property
    def api(self) -> Api:
        if self._api is None:
            self._api = connect(self.spec.context, self.spec.kubeconfig, scrub=dev_secrets.redact)
            self._discovery = Discovery(self._api)
        return self._api

    @property
    def discovery(self) -> Discovery:
        self.api  # noqa: B018 - connects, which creates the discovery
        assert self._discovery is not None
        return self._discovery

    @property
    def view(self) -> ProjectView:
        """The project's objects as the one watch cache has them (made with the first reader)."""
        with self._lock:
            if self._view is None:
                cache = WatchCache(self.api, self.discovery, labels.selector(self.project))
                self._view = ProjectView(cache, self.spec.namespace)
                self._follows = pod_logs.Follows(cache, self._closed)
            return self._view

    @property
    def cache(self) -> WatchCache:
        return self.view.cache

    @property
    def secrets(self) -> dict[str, dev_secrets.Secret]:
        """The dev secrets, as the config loaded them (once)."""
        return dict(self.config.dev_secrets)

    def prepare(self, note: Callable[[str], None] = silent) -> None:
        self._note = note
        if self.cluster.managed and not self.cluster.exists():
            note(f"creating {self.name} cluster {self.cluster.name!r} (context {self.spec.context})")
            started = time.monotonic()
            self.cluster.create()
            self.created_cluster = True
            note(f"created {self.name} cluster {self.cluster.name!r} in {time.monotonic() - started:.0f}s")
        self.api.call("GET", "/version")  # reachable, or EngineUnavailable with the context and address
        self._registry = _configured_registry(self.spec) or delivery.announced(self.api)
        if self.spec.registry and self.cluster.managed and self._registry is not None:
            delivery.announce(self.api, self._registry)

    def deliver(self, tags: Sequence[str]) -> None:
        if not tags:
            return
        if self._registry is not None:
            delivery.push(tags, self._registry)
        else:
            if self.cluster.managed:  # kind load, k3d image import, minikube image load: seconds an image
                self._note(f"loading {', '.join(tags)} into {self.name} cluster {self.cluster.name!r}")
            self.cluster.load(tags)
        self._delivered.update(tags)

    def plan(self, images: Mapping[str, str]) -> DeployPlan:
        documents = manifests.load(self.spec, self.config.display)
        inputs = render.Inputs(project=self.project, namespace=self.spec.namespace,
                               refs=delivery.refs(images, self._registry), secrets=tuple(self.secrets.values()),
                               disabled=self.config.disabled)
        rendered = render.render(documents, inputs, _namespaced(self.discovery, documents))
        self.view.planned((w.namespace, w.kind) for w in rendered.workloads)
        try:
            current = apply.is_current(self.api, self.discovery, rendered)
        except DeployError:  # e.g. a custom resource whose CRD this deploy installs
            current = False
        return DeployPlan(resources=tuple(w.resource for w in rendered.workloads), digest=rendered.digest,
                          changed=not current, images=images, resource_images=render.resource_images(rendered, images),
                          rendered=rendered)

    def apply(self, plan: DeployPlan, resources: Collection[str] | None = None) -> list[str]:
        rendered = _rendered(plan)
        self._deliver_missing(plan.images)
        if resources is not None:  # a stage of a deploy in dependency order: the other workloads wait
            return self._once(apply.apply(self.api, self.discovery, render.holding(rendered, resources), self.project,
                                          self.cache.wrote))
        warnings = apply.apply(self.api, self.discovery, rendered, self.project, self.cache.wrote)
        # The first prune looks in every kind the server lists; later ones where the project's objects were found
        # and where this deploy put them (nothing else creates objects of the project).
        self._prune_kinds = apply.prune(self.api, self.discovery, rendered, self.project, self._prune_kinds)
        return self._once(warnings)

    def _once(self, warnings: list[str]) -> list[str]:
        """Every redeploy applies every object again, and the server warns again: each warning is shown once."""
        new = [w for w in warnings if w not in self._warned]
        self._warned.update(new)
        return new

    def wait_ready(self, plan: DeployPlan, timeout_s: float, resources: Collection[str] | None = None,
                   settle_s: float = 0.0) -> dict[str, float]:
        rendered = _rendered(plan)
        started = time.monotonic()
        deadline = started + timeout_s
        chosen = [w for w in rendered.workloads if resources is None or w.resource in resources]
        # The slices' watch starts (lists) while the workloads roll out, not after.
        with self.cache.hold(routing.keys(rendered.objects)):
            # The forwards' tunnels to the new pods open while those get ready (they are not needed before).
            readiness.wait(self.cache, chosen, timeout_s, self.wait_options, settle_s,
                           self._forwarder.prepare if self._forwarder is not None else lambda: None)
            rolled = time.monotonic()
            routing.wait(self.cache, rendered.objects, deadline)
        self._pods_changed_by_us()
        return {"rollout": rolled - started, "endpoints": time.monotonic() - rolled}

    def status(self) -> list[ResourceStatus]:
        return workloads.rows(self.view.workloads(), self.view.objects("Pod"), self.config.forwards,
                              lambda pod: readiness.events(self.api, pod), self.wait_options.unschedulable_grace_s)

    def logs(self, resource: str, tail: int = _LOG_TAIL) -> list[str]:
        return pod_logs.of_pods(self.api, self.view.pods_of(resource), tail)

    def log_lines(self, resource: str, tail: int | None, since: float | None) -> list[LogLine]:
        return pod_logs.lines_of_pods(self.api, self.view.pods_of(resource), tail, since)

    def follow_logs(self, resource: str, since: float | None = None) -> Iterator[LogLine]:
        """The lines of every container of `resource`'s pods, new pods included; ends once it has had no pod
        for a while (it was removed). Blocking: the engine runs it in a thread."""
        namespaces = self.view.namespaces()  # the view comes with the follows
        assert self._follows is not None
        yield from self._follows.lines(namespaces, resource_name(resource), since)

    def relayed(self) -> tuple[Forward, ...]:
        """Every [[forwards]] entry: nothing on the cluster listens on this machine's 127.0.0.1."""
        return self.config.forwards

    async def connect(self, forward: Forward) -> Channel:
        """A portforward stream to the forward's current pod, through the API server."""
        target = portforward.Target(self.spec.namespace, forward.resource, forward.remote)
        await blocking.call(self.view.hold, portforward.keys(target.namespace))  # kept: every connection looks up
        if self._forwarder is None:
            self._forwarder = portforward.Forwarder(self.cache)
        return await self._forwarder.connect(target)

    async def disconnect(self) -> None:
        """Close the tunnels to the pods that connect keeps open between connections."""
        if self._forwarder is not None:
            await self._forwarder.close()

    def close(self) -> None:
        """Stop every background stream this provider started (log followers, the watch cache's watches, the
        tunnels), and close its pooled connections to the API server (a reloaded config makes a new provider: the
        old one's must not stay open); returns once their threads have ended."""
        self._closed.set()
        with self._lock:
            view, follows = self._view, self._follows
        if follows is not None:
            follows.close()
        if view is not None:
            view.cache.close()
        if self._forwarder is not None:
            self._forwarder.abort()
        self.api.close()

    def _pods_changed_by_us(self) -> None:
        """A deploy, restart or rollout: the forwards look their pods up again."""
        if self._forwarder is not None:
            self._forwarder.forget()

    def sync_files(self, pod: str, container: str, files: Sequence[tuple[Path, str]], restart: Sequence[str],
                   namespace: str | None = None) -> None:
        livesync.sync_files(self.api, namespace or self.spec.namespace, pod, container, files, restart)

    def exec(self, resource: str, command: Sequence[str]) -> tuple[int, str]:
        """Run `command` in a running pod of `resource` (its first container); exit code and output."""
        namespace, pod, container = workloads.exec_target(self.view.pods_of(resource), resource)
        return livesync.exec_output(self.api, namespace, pod, container, list(command))

    def sync(self, ref: str, files: Sequence[tuple[Path, str]], restart: Sequence[str]) -> list[str]:
        """Live update every running container of the project whose image is `ref`; "pod/container" of each."""
        updated = []
        for pod, container in workloads.running_image(self.view.objects("Pod"), ref):
            name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
            try:
                self.sync_files(name, container, files, restart, namespace)
            except DeployError:
                if self._going(namespace, name):
                    continue  # a rollout's old pod, deleted since the watch listed it: nothing left to update
                raise
            updated.append(f"{name}/{container}")
        return updated

    def _going(self, namespace: str, pod: str) -> bool:
        """Deleted, or being deleted, as the API server has it now (the watch may not have told yet)."""
        found = self.api.get(f"/api/v1/namespaces/{namespace}/pods/{pod}")
        return found is None or bool(found["metadata"].get("deletionTimestamp"))

    def wait_for_change(self, timeout_s: float) -> bool:
        """Reachable and its storage answering (EngineUnavailable otherwise), then woken by the watch cache: any
        change of the project's workloads or pods."""
        failed = self.api.storage_down()
        if failed:
            raise EngineUnavailable(f"the Kubernetes API server at {self.api.host} answers, but its storage does "
                                    f"not: {failed}")
        return self.view.wait_for_change(timeout_s)

    def restart(self, resource: str) -> None:
        """New pods of the same spec, as `kubectl rollout restart` does."""
        candidates = [obj for kind in apply.RESTARTABLE for obj in self.view.objects(kind)]
        apply.restart(self.api, self.discovery, candidates, resource, self.cache.wrote)
        self._pods_changed_by_us()

    def down(self, options: DownOptions) -> DownReport:
        if options.cluster:
            return teardown.delete_cluster(self.cluster, self.project, options)
        if self.cluster.managed and not self.cluster.exists():
            return DownReport(notes=[f"cluster behind context {self.spec.context!r} does not exist: nothing to remove"])
        return teardown.down(self.api, self.discovery, self.project, options)

    def _deliver_missing(self, images: Mapping[str, str]) -> None:
        """Images built earlier (a cache hit) may be absent from the nodes, e.g. after the cluster was recreated."""
        wanted = {tag: ref for tag, ref in zip(images.values(), delivery.refs(images, self._registry).values(),
                                               strict=True) if tag not in self._delivered}
        absent = set(delivery.missing(self.api, list(wanted.values()))) if wanted else set()
        self.deliver([tag for tag, ref in wanted.items() if ref in absent])
        self._delivered.update(wanted)  # found on the nodes: not asked again at the next apply


def _rendered(plan: DeployPlan) -> render.Rendered:
    assert isinstance(plan.rendered, render.Rendered), "a plan made by this provider"
    return plan.rendered


def _configured_registry(spec: KubernetesSpec) -> clusters.Registry | None:
    if not spec.registry:
        return None
    return clusters.Registry(spec.registry, spec.registry_from_cluster or spec.registry)


def _namespaced(discovery: Discovery, documents: Sequence[manifests.Document]) -> render.Namespaced:
    """Ask the server; for kinds of CRDs this very deploy installs, their scope says."""
    scopes: dict[tuple[str, str], bool] = {
        (d.obj.get("spec", {}).get("group", ""), d.obj.get("spec", {}).get("names", {}).get("kind", "")):
        d.obj.get("spec", {}).get("scope") == "Namespaced" for d in documents if d.kind == "CustomResourceDefinition"}

    def namespaced(api_version: str, kind: str) -> bool:
        group = api_version.rpartition("/")[0]
        if (group, kind) in scopes:
            return scopes[(group, kind)]
        return discovery.find(api_version, kind).namespaced

    return namespaced
