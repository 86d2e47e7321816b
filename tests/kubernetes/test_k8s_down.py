"""`down` deletes by label: everything of the project, nothing of anyone else, PVCs only with --volumes."""

from __future__ import annotations

from k8s_env import Env

from devstack import labels
from devstack.providers.base import DownOptions

IMAGES = {"relay": "relay:0123456789abcdef", "sink": "sink:fedcba9876543210"}
DATABASE = {"db.yaml": """\
    apiVersion: apps/v1
    kind: StatefulSet
    metadata: {name: db}
    spec:
      serviceName: db
      selector: {matchLabels: {app: db}}
      template:
        metadata: {labels: {app: db}}
        spec: {containers: [{name: db, image: postgres:16}]}
    ---
    apiVersion: v1
    kind: PersistentVolumeClaim
    metadata: {name: uploads}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: settings}
    data: {LOG_LEVEL: debug}
    """}


def names(env: Env, kind: str, namespace: str = "demo") -> set[str]:
    store = env.kube.store
    return {o["metadata"]["name"] for o in store.list(store.kind_of(kind), namespace)}


def deploy(env: Env, manifests: dict[str, str] | None = None) -> None:
    provider = env.provider(env.config(manifests=manifests) if manifests else None)
    provider.apply(provider.plan(IMAGES))


def others(env: Env) -> None:
    """What down must never touch: an unlabelled object, and another project's."""
    store = env.kube.store
    store.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hand-made", "namespace": "demo"}})
    store.put({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "theirs", "namespace": "demo", "labels": {labels.PROJECT: "other"}}})


def test_down_deletes_the_projects_objects_and_only_those(env: Env) -> None:
    deploy(env)
    others(env)
    report = env.provider().down(DownOptions())
    assert names(env, "Deployment") == set() and names(env, "Service") == set()
    assert names(env, "Secret") == set()
    assert names(env, "ConfigMap") == {"hand-made", "theirs"}
    assert names(env, "Pod") == set()  # went with their Deployments (garbage collection), not deleted one by one
    assert not [r for r in env.kube.requests("DELETE") if "/pods/" in r.path]
    assert report.removed["deployments"] == 2 and report.removed["services"] == 2
    # The namespace devstack created goes too: nothing of value is left in it.
    assert "demo" not in names(env, "Namespace", "")
    assert env.provider().down(DownOptions()).summary() == "nothing to remove"


def test_claims_and_their_namespace_stay_without_volumes(env: Env) -> None:
    deploy(env, DATABASE)
    report = env.provider().down(DownOptions())
    assert names(env, "PersistentVolumeClaim") == {"uploads"}
    assert names(env, "StatefulSet") == set() and names(env, "ConfigMap") == set()
    assert "demo" in names(env, "Namespace", "")
    assert any("kept 1 PersistentVolumeClaim" in note for note in report.notes)
    assert any("kept namespace demo" in note for note in report.notes)

    report = env.provider().down(DownOptions(volumes=True))
    assert names(env, "PersistentVolumeClaim") == set()
    assert "demo" not in names(env, "Namespace", "")
    assert report.removed == {"persistentvolumeclaims": 1, "namespaces": 1}


def test_down_finds_objects_across_namespaces_after_a_crash(env: Env) -> None:
    moved = {"relay.yaml": """\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: elsewhere, namespace: tools}
        data: {a: b}
        """}
    deploy(env, moved)
    # A new process knows nothing of the deploy: the labels are the state.
    report = env.provider().down(DownOptions())
    assert names(env, "ConfigMap", "tools") == set()
    assert report.removed["configmaps"] == 1
