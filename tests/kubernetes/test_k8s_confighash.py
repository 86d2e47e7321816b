"""Config-hash rollouts: devstack annotates each pod template with a hash of the ConfigMaps and Secrets it uses,
so that an edited config changes exactly the templates (and so rolls exactly the workloads) that use it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from devstack.config.secret_store import Secret
from devstack.providers.kubernetes import confighash, inject, render
from devstack.providers.kubernetes.manifests import Document

Json = dict[str, Any]


def config_map(name: str, value: str, namespace: str | None = None) -> Json:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"app.cfg": value}}


def secret(name: str, value: str) -> Json:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"key": value}}


def deployment(name: str, *, volumes: list[Json] | None = None, container: Json | None = None,
               kind: str = "Deployment") -> Json:
    spec = {"volumes": volumes or [], "initContainers": [], "containers": [{"name": "c", "image": "x",
                                                                            **(container or {})}]}
    template = {"metadata": {"labels": {"app": name}}, "spec": spec}
    if kind == "CronJob":
        return {"apiVersion": "batch/v1", "kind": kind, "metadata": {"name": name},
                "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": template}}


def hashes(*objects: Json, secrets: tuple[Secret, ...] = ()) -> dict[str, str | None]:
    """Workload name → its template's config hash (None: no annotation), after devstack's rendering."""
    documents = [Document(copy.deepcopy(o), f"test.yaml#{i}") for i, o in enumerate(objects, 1)]
    inputs = render.Inputs(project="demo", namespace="dev", refs={}, secrets=secrets)
    result = render.render(documents, inputs, lambda _api, kind: kind != "Namespace")
    return {o["metadata"]["name"]: ((inject.template(o) or {}).get("metadata") or {}).get("annotations", {}).get(
        confighash.ANNOTATION) for o in result.objects if inject.template(o) is not None}


def uses(kind: str, name: str) -> dict[str, Any]:
    """Keyword arguments for deployment(): each way a pod template can use a ConfigMap or Secret."""
    key_ref = {"ConfigMap": "configMapKeyRef", "Secret": "secretKeyRef"}[kind]
    env_ref = {"ConfigMap": "configMapRef", "Secret": "secretRef"}[kind]
    volume = {"ConfigMap": {"configMap": {"name": name}}, "Secret": {"secret": {"secretName": name}}}[kind]
    projected = {"ConfigMap": {"configMap": {"name": name}}, "Secret": {"secret": {"name": name}}}[kind]
    return {
        "volume": {"volumes": [{"name": "v", **volume}]},
        "projected": {"volumes": [{"name": "v", "projected": {"sources": [projected]}}]},
        "env": {"container": {"env": [{"name": "E", "valueFrom": {key_ref: {"name": name, "key": "k"}}}]}},
        "envFrom": {"container": {"envFrom": [{env_ref: {"name": name}}]}},
    }


FORMS = [(kind, form) for kind in ("ConfigMap", "Secret") for form in ("volume", "projected", "env", "envFrom")]


@pytest.mark.parametrize(("kind", "form"), FORMS, ids=[f"{k}-{f}" for k, f in FORMS])
def test_each_way_of_using_a_config_rolls_on_edit(kind: str, form: str) -> None:
    make = config_map if kind == "ConfigMap" else secret
    user = deployment("user", **uses(kind, "cfg")[form])
    other = deployment("other")
    before = hashes(make("cfg", "one"), user, other)
    after = hashes(make("cfg", "two"), user, other)
    assert before["user"] and after["user"] and before["user"] != after["user"]
    assert before["other"] is None and after["other"] is None  # uses nothing: never touched


def test_an_edit_rolls_exactly_the_workloads_that_use_the_edited_config() -> None:
    core = deployment("core", volumes=[{"name": "cfg", "configMap": {"name": "core-config"}}],
                      container={"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "pw", "key": "key"}}}]})
    web = deployment("web", volumes=[{"name": "cfg", "configMap": {"name": "web-config"}}],
                     container={"envFrom": [{"secretRef": {"name": "pw"}}]})
    job = deployment("nightly", kind="CronJob", volumes=[{"name": "cfg", "configMap": {"name": "web-config"}}])
    base = hashes(config_map("core-config", "a"), config_map("web-config", "b"), secret("pw", "p"), core, web, job)
    core_edit = hashes(config_map("core-config", "A"), config_map("web-config", "b"), secret("pw", "p"), core, web,
                       job)
    web_edit = hashes(config_map("core-config", "a"), config_map("web-config", "B"), secret("pw", "p"), core, web,
                      job)
    both = hashes(config_map("core-config", "a"), config_map("web-config", "b"), secret("pw", "q"), core, web, job)
    assert all(base.values())
    assert [name for name in base if core_edit[name] != base[name]] == ["core"]
    assert sorted(name for name in base if web_edit[name] != base[name]) == ["nightly", "web"]
    assert sorted(name for name in base if both[name] != base[name]) == ["core", "web"]


def test_devstacks_own_dev_secrets_roll_what_reads_them_and_the_value_stays_hidden() -> None:
    reader = deployment("relay", container={"env": [
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "inject-password", "key": "password"}}}]})
    first = hashes(reader, secrets=(Secret("inject-password", "password", "first-value-123"),))
    second = hashes(reader, secrets=(Secret("inject-password", "password", "second-value-456"),))
    assert first["relay"] and second["relay"] and first["relay"] != second["relay"]
    assert "first-value-123" not in str(first) and "second-value-456" not in str(second)


def test_init_containers_count_and_unknown_or_foreign_configs_do_not() -> None:
    pod = deployment("w")
    pod["spec"]["template"]["spec"]["initContainers"] = [
        {"name": "init", "image": "x", "envFrom": [{"configMapRef": {"name": "init-config"}}]}]
    assert hashes(config_map("init-config", "1"), pod)["w"] != hashes(config_map("init-config", "2"), pod)["w"]
    # Made by hand on the cluster, or in another namespace: devstack cannot see its content, so no annotation.
    elsewhere = deployment("w", volumes=[{"name": "v", "configMap": {"name": "cfg"}}])
    assert hashes(elsewhere)["w"] is None
    assert hashes(config_map("cfg", "1", namespace="other"), elsewhere)["w"] is None


def test_existing_template_annotations_are_kept_and_the_hash_is_stable() -> None:
    user = deployment("user", volumes=[{"name": "v", "configMap": {"name": "cfg"}}])
    user["spec"]["template"]["metadata"]["annotations"] = {"keep": "me"}
    documents = [Document(config_map("cfg", "x"), "a"), Document(user, "b")]
    inputs = render.Inputs(project="demo", namespace="dev", refs={})
    first = render.render(documents, inputs, lambda _api, _kind: True)
    again = render.render(documents, inputs, lambda _api, _kind: True)
    annotations = first.objects[-1]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["keep"] == "me" and len(annotations[confighash.ANNOTATION]) == 32
    assert first.digest == again.digest
