"""Server-side apply against the fake API server, through the real `kubernetes` client: what exactly the server
received (method, content type, field manager, labels, image refs), the order, namespaces, and the digest that
skips an unchanged redeploy; requests a real server does not let a test read back. Pruning and conflicts are
tested on the real test cluster (tests/realkube)."""

from __future__ import annotations

import io
import json
import threading

from k8s_env import TOKEN, Env

from devstack import labels
from devstack.config import loader
from devstack.engine.converge import run_once
from devstack.observe.console import Console
from tests.unit.memory import Engine, MemoryBuilder

IMAGES = {"relay": "relay:0123456789abcdef", "sink": "sink:fedcba9876543210"}


def applied(env: Env) -> list[dict[str, object]]:
    return [json.loads(r.body) for r in env.kube.requests("PATCH")]


def test_apply_is_server_side_with_ownership_labels_and_injected_images(env: Env) -> None:
    provider = env.provider()
    provider.prepare()
    plan = provider.plan(IMAGES)
    assert plan.changed and plan.resources == ("relay", "sink")
    provider.apply(plan)

    patches = env.kube.requests("PATCH")
    assert patches, "nothing was applied"
    for request in patches:
        assert request.headers["content-type"] == "application/apply-patch+yaml"
        # Not forced: a field changed outside devstack is a reported conflict (tests/realkube).
        assert request.query["fieldManager"] == ["devstack"] and "force" not in request.query
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
    for obj in applied(env):
        assert obj["metadata"]["labels"][labels.PROJECT] == "demo"  # type: ignore[index]
        assert obj["metadata"]["labels"][labels.DIGEST] == plan.digest  # type: ignore[index]
    relay = next(o for o in applied(env) if o["kind"] == "Deployment" and o["metadata"]["name"] == "relay")  # type: ignore[index]
    container = relay["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert container["image"] == "relay:0123456789abcdef" and container["imagePullPolicy"] == "IfNotPresent"
    assert relay["spec"]["template"]["metadata"]["labels"][labels.PROJECT] == "demo"  # type: ignore[index]


def test_objects_are_applied_in_dependency_order_into_a_created_namespace(env: Env) -> None:
    provider = env.provider()
    provider.prepare()
    provider.apply(provider.plan(IMAGES))
    kinds = [o["kind"] for o in applied(env)]
    assert kinds == ["Secret", "Service", "Service", "Deployment", "Deployment"]
    created = env.kube.requests("POST", "/api/v1/namespaces")
    assert [json.loads(r.body)["metadata"]["name"] for r in created] == ["demo"]
    namespace = env.kube.store.get(env.kube.store.kind_of("Namespace"), "", "demo")
    assert namespace is not None and namespace["metadata"]["labels"][labels.PROJECT] == "demo"
    assert all(r.path.startswith("/api/v1/namespaces/demo/") or r.path.startswith("/apis/apps/v1/namespaces/demo/")
               for r in env.kube.requests("PATCH"))


def test_objects_of_one_kind_are_written_at_once_and_the_kinds_in_order(env: Env) -> None:
    """A project's objects of one rank go to the server together (not one round trip after another), and none of
    a later rank before the earlier rank's were answered."""
    both_in_flight = threading.Barrier(2, timeout=5)
    under_way: list[str] = []  # the writes being answered now
    seen: list[tuple[str, list[str]]] = []  # (a write's path, what was under way when it came)
    lock = threading.Lock()

    def on_write(method: str, path: str) -> None:
        with lock:
            seen.append((path, list(under_way)))
            under_way.append(path)
        if "/deployments/" in path:
            both_in_flight.wait()  # broken (BrokenBarrierError) unless the other Deployment's write comes meanwhile
        with lock:
            under_way.remove(path)

    env.kube.store.on_write = on_write
    provider = env.provider()
    provider.apply(provider.plan(IMAGES))
    assert not both_in_flight.broken
    deployments = [(path, before) for path, before in seen if "/deployments/" in path]
    assert len(deployments) == 2
    assert all("/deployments/" in other for _path, before in deployments for other in before)


def test_a_redeploy_that_creates_nothing_writes_everything_at_once_the_workloads_first(env: Env) -> None:
    """Once every object exists, a redeploy (a rebuild's new tag) sends its writes together, the Deployments'
    (which start the rollouts) first: none waits for the Services' and the Secret's answers, nor for the namespace
    lookup."""
    provider = env.provider()
    provider.apply(provider.plan(IMAGES))
    deployments: list[str] = []
    both_seen = threading.Event()
    waited: dict[str, bool] = {}  # another kind's write → whether both Deployments' came before its answer

    def on_write(method: str, path: str) -> None:
        if "/deployments/" in path:
            deployments.append(path)
            if len(deployments) == 2:
                both_seen.set()
        else:
            waited[path] = both_seen.wait(timeout=2)  # ranks in order: the Deployments' come only after this answer

    env.kube.store.on_write = on_write
    namespace = "/api/v1/namespaces/demo"
    looked_up = len([r for r in env.kube.requests("GET", namespace) if r.path == namespace])
    provider.apply(provider.plan({**IMAGES, "relay": "relay:1111111111111111"}))
    assert len(deployments) == 2 and len(waited) == 3 and all(waited.values()), waited
    assert len([r for r in env.kube.requests("GET", namespace) if r.path == namespace]) == looked_up


def test_an_existing_namespace_is_left_alone(env: Env) -> None:
    env.kube.store.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}})
    provider = env.provider()
    provider.apply(provider.plan(IMAGES))
    assert env.kube.requests("POST", "/api/v1/namespaces") == []
    namespace = env.kube.store.get(env.kube.store.kind_of("Namespace"), "", "demo")
    assert namespace is not None and labels.PROJECT not in (namespace["metadata"].get("labels") or {})


def test_an_unchanged_redeploy_is_skipped_and_a_change_is_not(env: Env) -> None:
    provider = env.provider()
    first = provider.plan(IMAGES)
    provider.apply(first)
    again = env.provider().plan(IMAGES)  # a new process, same inputs
    assert not again.changed and again.digest == first.digest
    rebuilt = env.provider().plan({**IMAGES, "relay": "relay:1111111111111111"})
    assert rebuilt.changed and rebuilt.digest != first.digest


def test_custom_resources_apply_after_their_crd(env: Env) -> None:
    crd = """\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: mailboxes.mail.example.com}
        spec:
          group: mail.example.com
          scope: Namespaced
          names: {kind: Mailbox, plural: mailboxes, singular: mailbox}
          versions:
            - name: v1
              served: true
              storage: true
              schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
        ---
        apiVersion: mail.example.com/v1
        kind: Mailbox
        metadata: {name: postmaster}
        spec: {address: postmaster@example.com}
        """
    provider = env.provider(env.config(manifests={"crd.yaml": crd}))
    provider.apply(provider.plan({}))
    paths = [r.path for r in env.kube.requests("PATCH")]
    assert paths == ["/apis/apiextensions.k8s.io/v1/customresourcedefinitions/mailboxes.mail.example.com",
                     "/api/v1/namespaces/demo/secrets/inject-password",
                     "/apis/mail.example.com/v1/namespaces/demo/mailboxes/postmaster"]


def test_a_stage_of_a_deploy_in_order_holds_the_other_workloads_back(env: Env) -> None:
    """depends_on: the first stage applies everything but the held workloads (the relay's Service is there, its
    Deployment is not) and prunes nothing; the readiness wait covers the stage's workloads; the last stage applies
    the rest."""
    provider = env.provider()
    provider.prepare()
    plan = provider.plan(IMAGES)
    provider.apply(plan, frozenset({"sink"}))
    first = [(o["kind"], o["metadata"]["name"]) for o in applied(env)]  # type: ignore[index]
    assert ("Deployment", "sink") in first and ("Service", "relay") in first
    assert ("Deployment", "relay") not in first
    assert not env.kube.requests("DELETE")
    provider.wait_ready(plan, 10, frozenset({"sink"}))
    provider.apply(plan)
    provider.wait_ready(plan, 10)
    assert ("Deployment", "relay") in [(o["kind"], o["metadata"]["name"]) for o in applied(env)]  # type: ignore[index]


def test_a_disabled_workload_is_pruned_and_its_service_stays(env: Env) -> None:
    """devstack disable relay: the deploy leaves relay's Deployment out, so the prune deletes it; its Service (and
    any claim) stays, and sink is applied as before."""
    provider = env.provider()
    provider.prepare()
    provider.apply(provider.plan(IMAGES))
    (env.root / ".devstack").mkdir(exist_ok=True)
    (env.root / ".devstack" / "disabled.json").write_text('["relay"]\n')
    config = env.config()
    assert config.disabled == {"relay"}
    plan = env.provider(config).plan(IMAGES)
    assert plan.resources == ("sink",)
    env.provider(config).apply(plan)
    deleted = [r.path for r in env.kube.requests("DELETE")]
    assert any(path.endswith("/deployments/relay") for path in deleted), deleted
    assert not any("/services/" in path for path in deleted)


def test_ci_applies_a_dependent_workload_once_its_dependency_is_ready(env: Env) -> None:
    """depends_on through the whole pass (run_once) on the Kubernetes provider: relay's Deployment is applied only
    after sink's rollout was waited for."""
    env.config()
    path = env.root / "devstack.toml"
    path.write_text(path.read_text() + '\n[resources.relay]\ndepends_on = ["sink"]\n')
    config = loader.load(path)
    out, engine = io.StringIO(), Engine()  # the images are built in memory; the cluster is the fake API server
    run_once(config, env.provider(config), Console(out, tty=False), 30, builder=MemoryBuilder(engine))
    patched = [r.path.rsplit("/", 1)[-1] for r in env.kube.requests("PATCH") if "/deployments/" in r.path]
    assert patched.index("sink") < patched.index("relay"), patched
    assert "relay    waiting on sink" in out.getvalue()
