"""`devstack init` on Kubernetes projects: manifests, a kustomization and a helm chart each become a devstack.toml
that loads, with an image per Dockerfile matched to what the manifests run, a forward per Service port and a smoke
test where a port says what it is. (A compose project is run end to end in tests/integration/test_init.py.)"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from devstack.cli.main import cli
from devstack.config import loader, scaffold, scaffold_text

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
        - name: api
          image: registry.example.test/team/api:1.2
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports:
    - {name: http, port: 80, targetPort: 8080}
    - {name: smtp, port: 25}
    - {name: metrics, port: 9100}
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _init(root: Path) -> dict[str, Any]:
    text = scaffold_text.render(scaffold.scan(root))
    (root / "devstack.toml").write_text(text)
    loader.load(root / "devstack.toml", environ={})  # what it wrote is a valid config
    return tomllib.loads(text)


def test_manifests(tmp_path: Path) -> None:
    _write(tmp_path, {"k8s/api.yaml": DEPLOYMENT, "api/Dockerfile": "FROM scratch\n", "README.md": "# api\n"})
    config = _init(tmp_path)
    assert config["project"] == {"name": scaffold.project_name(tmp_path), "provider": "kind"}
    assert config["kubernetes"] == {"manifests": ["k8s/api.yaml"]}
    assert config["images"] == {"api": {"context": "api", "ref": "registry.example.test/team/api"}}
    assert config["forwards"] == [{"resource": "api", "local": 8080, "remote": 80},
                                  {"resource": "api", "local": 8025, "remote": 25},
                                  {"resource": "api", "local": 9100, "remote": 9100}]
    assert [(s["name"], s["type"]) for s in config["smoke"]] == [("api-http", "http"), ("api-smtp", "smtp")]
    assert config["smoke"][0]["url"] == "http://127.0.0.1:8080/"


def test_a_kustomization_prefers_the_dev_overlay(tmp_path: Path) -> None:
    _write(tmp_path, {"deploy/base/kustomization.yaml": "resources: [api.yaml]\n", "deploy/base/api.yaml": DEPLOYMENT,
                      "deploy/overlays/dev/kustomization.yaml": "resources: [../../base]\n",
                      "deploy/overlays/prod/kustomization.yaml": "resources: [../../base]\n"})
    config = _init(tmp_path)
    assert config["kubernetes"] == {"kustomize": ["deploy/overlays/dev"]}
    assert "images" not in config  # no Dockerfile: nothing to build, the manifests' images are pulled


def test_a_helm_chart(tmp_path: Path) -> None:
    _write(tmp_path, {"charts/shop/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
                      "charts/shop/templates/deployment.yaml": "{{- if .Values.enabled }}\nkind: {{ .Values.kind }}\n",
                      "shop/Dockerfile": "FROM scratch\n"})
    config = _init(tmp_path)
    assert config["kubernetes"] == {"helm": [{"chart": "charts/shop"}]}
    assert config["images"] == {"shop": {"context": "shop"}}  # the chart is not rendered here: ref left to the user
    assert '# ref = "shop"' in (tmp_path / "devstack.toml").read_text()


def test_the_command_refuses_to_overwrite_and_names_what_it_wants(tmp_path: Path) -> None:
    runner = CliRunner()
    empty = runner.invoke(cli, ["init", str(tmp_path)], standalone_mode=False)
    assert isinstance(empty.exception, Exception) and "nothing in" in str(empty.exception)
    _write(tmp_path, {"k8s/api.yaml": DEPLOYMENT, "devstack.toml": "# mine\n"})
    kept = runner.invoke(cli, ["init", str(tmp_path)], standalone_mode=False)
    assert "exists already" in str(kept.exception)
    assert (tmp_path / "devstack.toml").read_text() == "# mine\n"
