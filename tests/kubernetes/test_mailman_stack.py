"""The Mailman stack (stacks/mailman) as devstack renders it (kubectl kustomize, images injected, dev secrets
added): valid against the Kubernetes 1.30 and 1.37 schemas, credentials only in Secrets, a readiness probe on every
container, and config edits that roll exactly the workload whose config changed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from devstack.config import loader
from devstack.config import secret_store as dev_secrets
from devstack.config.secret_store import Secret
from devstack.config.smoke import MailmanFlow
from devstack.errors import ConfigError
from devstack.providers.kubernetes import confighash, inject, manifests, render

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "stacks" / "mailman"
Json = dict[str, Any]
WORKLOADS = {"postgres", "mailman-core", "mailman-web", "exim", "sink"}


def rendered(stack: Path = STACK) -> tuple[list[Json], list[Secret]]:
    config = loader.load(stack / "devstack.toml", environ={})
    assert config.kubernetes is not None
    documents = manifests.load(config.kubernetes, config.display)
    refs = {spec.ref: f"{spec.ref}:0123456789abcdef" for spec in config.images.values()}
    secrets = list(dev_secrets.load(config.project, config.secrets).values())  # random: in no manifest by chance
    inputs = render.Inputs(project=config.project, namespace=config.kubernetes.namespace, refs=refs, secrets=secrets)
    return list(render.render(documents, inputs, lambda _api, kind: kind != "Namespace").objects), secrets


@pytest.fixture(scope="module")
def stack() -> tuple[list[Json], list[Secret]]:
    """Rendered once the session's own XDG_STATE_HOME is set: the dev secrets are generated there."""
    return rendered()


def workloads(objects: list[Json]) -> dict[str, Json]:
    return {o["metadata"]["name"]: o for o in objects if inject.template(o) is not None}


def hashes(objects: list[Json]) -> dict[str, str]:
    return {name: inject.template(o)["metadata"]["annotations"][confighash.ANNOTATION]  # type: ignore[index]
            for name, o in workloads(objects).items()
            if confighash.ANNOTATION in (inject.template(o) or {}).get("metadata", {}).get("annotations", {})}


def test_every_rendered_object_is_valid_for_kubernetes_1_30_and_1_37(stack: tuple[list[Json], list[Secret]]) -> None:
    invalid = []
    for obj in stack[0]:
        for version in ("1.30", "1.37"):  # the oldest release users run, and the test cluster's
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                invalid.append(f"{obj['kind']} {obj['metadata']['name']} ({version}): {err.message}")
    assert invalid == []


def test_the_stack_has_its_components_volumes_and_secrets(stack: tuple[list[Json], list[Secret]]) -> None:
    objects, _secrets = stack
    assert set(workloads(objects)) == WORKLOADS
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert {("PersistentVolumeClaim", "mailman-var"), ("StatefulSet", "postgres"), ("ConfigMap", "mailman-core-config"),
            ("ConfigMap", "mailman-web-config"), ("ConfigMap", "exim-config")} <= kinds
    assert {name for kind, name in kinds if kind == "Secret"} == {
        "mailman-rest-password", "hyperkitty-api-key", "django-secret-key", "postgres-password", "database-url"}
    assert ("PersistentVolumeClaim", "postgres-data") in kinds
    # The list folders are shared: core writes them, exim's router reads them.
    for name, read_only in (("mailman-core", None), ("exim", True)):
        volumes = inject.template(workloads(objects)[name])["spec"]["volumes"]  # type: ignore[index]
        claim = next(v["persistentVolumeClaim"] for v in volumes if "persistentVolumeClaim" in v)
        assert claim["claimName"] == "mailman-var" and claim.get("readOnly") == read_only


def test_credentials_are_only_in_secrets_and_reach_pods_by_reference(stack: tuple[list[Json], list[Secret]]) -> None:
    objects, secrets = stack
    for obj in objects:
        if obj["kind"] != "Secret":
            text = str(obj)
            assert not [s.name for s in secrets if s.value in text], f"{obj['kind']} {obj['metadata']['name']}"
    for name, obj in workloads(objects).items():
        for container in inject.containers(obj):
            for env in container.get("env") or []:
                if any(word in env["name"] for word in ("PASSWORD", "KEY", "DATABASE_URL")):
                    assert "secretKeyRef" in env.get("valueFrom", {}), f"{name}: {env['name']}"


def test_the_database_url_is_composed_of_the_postgres_password(stack: tuple[list[Json], list[Secret]]) -> None:
    _objects, secrets = stack
    by_name = {s.name: s.value for s in secrets}
    assert by_name["database-url"] == f"postgresql://mailman:{by_name['postgres-password']}@postgres:5432/mailman"


def test_every_container_has_a_readiness_probe_that_means_it(stack: tuple[list[Json], list[Secret]]) -> None:
    objects, _secrets = stack
    probes = {name: c["readinessProbe"] for name, o in workloads(objects).items() for c in inject.containers(o)}
    assert set(probes) == WORKLOADS
    assert probes["mailman-core"]["exec"]["command"] == ["mailman-core-ready"]  # REST answers AND LMTP listens
    assert probes["exim"]["exec"]["command"] == ["exim-ready"]  # EHLO answered
    assert probes["mailman-web"]["httpGet"]["path"] == "/accounts/login/"  # a page Django renders


@pytest.mark.parametrize(("edited", "rolls"), [
    ("k8s/config/mailman.cfg", {"mailman-core"}),
    ("k8s/config/mailman-web.py", {"mailman-web"}),
    ("k8s/config/exim/retry", {"exim"}),
])
def test_a_config_edit_rolls_exactly_its_workload(stack: tuple[list[Json], list[Secret]], tmp_path: Path, edited: str,
                                                  rolls: set[str]) -> None:
    copy = tmp_path / "stacks" / "mailman"
    shutil.copytree(STACK, copy)
    (tmp_path / "sink").symlink_to(REPO / "sink")
    with (copy / edited).open("a", encoding="utf-8") as file:
        file.write("\n# edited\n")
    before, after = hashes(stack[0]), hashes(rendered(copy)[0])
    assert {name for name in after if after[name] != before.get(name)} == rolls


def test_the_mail_flow_smoke_test_is_configured_against_the_forwards() -> None:
    config = loader.load(STACK / "devstack.toml", environ={"MAILMAN_REST_PORT": "18001"})
    (flow,) = [s for s in config.smoke if s.type == "mailman-flow"]
    assert isinstance(flow.options, MailmanFlow)
    assert flow.options.rest_url == "http://127.0.0.1:18001/3.1"
    assert flow.options.components == {"core": "mailman-core", "mta": "exim", "web": "mailman-web", "sink": "sink"}
    forwards = {(f.resource, f.remote) for f in config.forwards}
    assert forwards == {("mailman-web", 8000), ("mailman-core", 8001), ("exim", 25), ("sink", 8025)}


def test_a_wrong_component_name_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "devstack.toml"
    config.write_text('[project]\nname = "m"\nprovider = "context"\n[kubernetes]\ncontext = "x"\n'
                      'manifests = ["*.yaml"]\n[[smoke]]\nname = "f"\ntype = "mailman-flow"\n'
                      'rest_url = "http://127.0.0.1:1/3.1"\nsmtp_port = 25\nsink_url = "http://127.0.0.1:2"\n'
                      'components = { core = "c", mailer = "x" }\n')
    (tmp_path / "x.yaml").write_text("")
    with pytest.raises(ConfigError, match=r"smoke\[0\]\.components\.mailer: unknown component"):
        loader.load(config, environ={})
