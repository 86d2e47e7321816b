"""Every crash, hang and unlocated refusal the property tests found, kept as a plain test with its input. Each
failed before its fix: a traceback (exit 3), no answer, or a refusal that named neither key nor line."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.config import loader
from devstack.errors import ConfigError
from devstack.formats import ignore
from devstack.providers.kubernetes import manifests, render
from devstack.providers.swarm import stackfile
from tests.property.outcome import bounded

CONFIG = '[project]\nname = "found"\nprovider = "swarm"\n'
INPUTS = stackfile.Inputs(project="found", variables={}, images={})
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)) + "services: {s: {}}\n"


def _refusal(call: object, *args: object) -> str:
    with bounded(), pytest.raises(ConfigError) as caught:
        call(*args)  # type: ignore[operator]
    return str(caught.value)


@pytest.mark.parametrize(("text", "message"), [
    ("[variables]\nA = " + "[" * 2000 + "]" * 2000 + "\n", "devstack.toml:5: nested more than 100 levels deep"),
    (CONFIG + "x = " + '{"x" = ' * 2000 + "1" + "}" * 2000 + "\n", "devstack.toml:4: nested more than 100 levels"),
    (CONFIG + 'a = """unterminated\n', "devstack.toml:5: invalid TOML: "),  # the error is at the end of the file
])
def test_devstack_toml(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "devstack.toml").write_text(text if text.startswith("[project]") else CONFIG + text)
    assert _refusal(loader.load, tmp_path / "devstack.toml", {}).startswith(message)


def test_an_empty_key_is_named_as_toml_writes_it(tmp_path: Path) -> None:
    (tmp_path / "devstack.toml").write_text(CONFIG + '"" = 1\n')
    assert _refusal(loader.load, tmp_path / "devstack.toml", {}) == 'devstack.toml: project."": unknown key'


@pytest.mark.parametrize(("text", "message"), [
    ('[images.x]\ncontext = "' + "d" * 5000 + '"\n', "devstack.toml: images.x.context: not a usable path: File name"),
])
def test_config_keys(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "devstack.toml").write_text(CONFIG + text)
    assert _refusal(loader.load, tmp_path / "devstack.toml", {}).startswith(message)


def test_a_deeply_nested_smoke_payload_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"recipients": ' + "[" * 5000 + "]" * 5000 + "}")
    (tmp_path / "s.yml").write_text("services: {s: {image: x}}\n")
    (tmp_path / "devstack.toml").write_text(CONFIG + '[swarm]\nstack_file = "s.yml"\n[[smoke]]\nname = "i"\n'
                                            'type = "http-inject"\nurl = "http://127.0.0.1:1/"\n'
                                            'payload_file = "p.json"\n')
    assert _refusal(loader.load, tmp_path / "devstack.toml", {}).startswith(
        "devstack.toml: smoke[0].payload_file: 'p.json': nested more than 100 levels deep")


def test_a_dockerignore_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_bytes(b"*.log\n\x80\n")
    assert _refusal(ignore.read, tmp_path).endswith(".dockerignore:2: not UTF-8: byte 0x80 at column 1")


@pytest.mark.parametrize(("text", "message"), [
    (b"services:\n  s: {image: \x80}\n", "stack.yml:2: not UTF-8: byte 0x80"),
    (b"services: {1: {image: relay}}\n", "stack.yml: services.1: expected a service name (a string)"),
    (b"services: {s: " + b"[" * 5000 + b"]" * 5000 + b"}\n", "stack.yml:1: invalid YAML: "),
    (b"services: {s: {x: " + b"[" * 150 + b"]" * 150 + b"}}\n", "stack.yml: services.s.x"),
    (b"- " * 400 + b"x\n", "stack.yml: [0][0][0]"),  # LibYAML reads 400 levels; devstack refuses over 100
    (BOMB.encode(), "stack.yml: "),  # more than 100,000 values: refused at once, not walked for minutes
    (b"services: {s: {}}\n\x00", "stack.yml:2: invalid YAML: "),
    (b"services: {s: {deploy: x}}\n", "stack.yml: services.s.deploy: expected a mapping"),  # found by atheris
    (b"services: {s: {labels: 5}}\n", "stack.yml: services.s.labels: expected a mapping or a list"),
])
def test_stack_files(tmp_path: Path, text: bytes, message: str) -> None:
    (tmp_path / "stack.yml").write_bytes(text)
    assert _refusal(stackfile.render, tmp_path / "stack.yml", "stack.yml", INPUTS).startswith(message)


POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"


@pytest.mark.parametrize(("text", "message"), [
    (POD + "spec: {containers: [{name: c, ports: 5}]}\n", "m.yaml#1: spec.containers[0].ports: expected a list"),
    (POD + "spec: {volumes: [{configMap: x}]}\n", "m.yaml#1: spec.volumes[0].configMap: expected a mapping"),
    (POD + "spec: {containers: [{env: [{valueFrom: 1}]}]}\n", "m.yaml#1: spec.containers[0].env[0].valueFrom"),
    (POD + "spec: {containers: [{env: [null]}]}\n", "m.yaml#1: spec.containers[0].env[0]: expected a mapping"),
    ("apiVersion: v1\nkind: Service\nmetadata: {name: s, labels: [a]}\n", "m.yaml#1: metadata.labels: expected a"),
    ("apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: 5}\n", "m.yaml#1: metadata.namespace"),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: 1}\n", "m.yaml#1: spec.template"),
    ("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: d}\nspec: {volumeClaimTemplates: 5}\n",
     "m.yaml#1: spec.volumeClaimTemplates: expected a list"),
])
def test_manifests(text: str, message: str) -> None:
    assert _refusal(manifests.parse, text, "m.yaml").startswith(message)


def test_an_empty_namespace_is_the_projects() -> None:
    """Found by atheris: `namespace:` left empty beside a namespaced object crashed the render (TypeError)."""
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: null}\n---\n" \
           "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: other}\n"
    rendered = render.render(manifests.parse(text, "m.yaml"), render.Inputs("p", "p", {}), lambda *_: True)
    assert rendered.namespaces == ("other", "p")


def test_a_template_with_empty_metadata_renders() -> None:
    text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    metadata:\n"
    (obj,) = render.render(manifests.parse(text, "m.yaml"), render.Inputs("p", "p", {}), lambda *_: True).objects
    assert obj["spec"]["template"]["metadata"]["labels"]["dev.devstack.project"] == "p"


@pytest.mark.parametrize("kustomization", [
    "resources: 5\n", "patches: true\n", "configMapGenerator: [{files: 3}]\n", f"resources: [{'x' * 5000}]\n",
    'resources: ["a\\x00b"]\n',
])
def test_kustomizations(tmp_path: Path, kustomization: str) -> None:
    (tmp_path / "kustomization.yaml").write_text(kustomization)
    with bounded():
        assert tmp_path.resolve() in manifests.kustomize_inputs(tmp_path)
