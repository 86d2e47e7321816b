"""Dev secrets: generated once, stored outside the repository with mode 0600, created as labelled Kubernetes
Secrets, and never shown: not in logs, status, error messages or reprs."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from k8s_env import Env

from devstack import labels
from devstack.config import secret_store as secrets
from devstack.config.model import SecretSpec
from devstack.errors import DeployError, DevstackError, ReadinessError

IMAGES = {"relay": "relay:0123456789abcdef", "sink": "sink:fedcba9876543210"}
SPEC = SecretSpec(name="admin-password", length=20, alphabet="abcdef0123456789", key="value")


def test_generated_once_and_stored_privately(tmp_path: Path) -> None:
    first = secrets.load("demo", [SPEC], directory=tmp_path)
    value = first["admin-password"].value
    assert len(value) == 20 and set(value) <= set(SPEC.alphabet)
    assert secrets.load("demo", [SPEC], directory=tmp_path)["admin-password"].value == value
    path = tmp_path / secrets.FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"admin-password": value}


def test_a_changed_spec_gets_a_new_value_and_others_are_kept(tmp_path: Path) -> None:
    old = secrets.load("demo", [SPEC], directory=tmp_path)["admin-password"].value
    api_key = SecretSpec(name="api-key", length=40, alphabet="xyz", key="key")
    longer = SecretSpec(name="admin-password", length=30, alphabet=SPEC.alphabet, key="value")
    both = secrets.load("demo", [longer, api_key], directory=tmp_path)
    assert len(both["admin-password"].value) == 30 and both["admin-password"].value != old
    assert set(both["api-key"].value) <= {"x", "y", "z"}


def test_the_default_location_is_the_users_state_folder_not_the_repository(monkeypatch: pytest.MonkeyPatch,
                                                                            tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert secrets.state_dir("demo") == tmp_path / ".local" / "state" / "devstack" / "demo"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert secrets.state_dir("demo") == tmp_path / "xdg" / "devstack" / "demo"


def test_a_corrupt_store_is_named_without_quoting_it(tmp_path: Path) -> None:
    (tmp_path / secrets.FILENAME).write_text('{"admin-password": "hunter2hunter2", oops')
    with pytest.raises(DevstackError) as caught:
        secrets.load("demo", [SPEC], directory=tmp_path)
    assert "not valid JSON" in str(caught.value) and "hunter2" not in str(caught.value)


def test_value_is_hidden_from_repr_and_str(tmp_path: Path) -> None:
    secret = secrets.load("demo", [SPEC], directory=tmp_path)["admin-password"]
    assert secret.value not in repr(secret) and secret.value not in str(secret)


def test_created_as_a_labelled_kubernetes_secret(env: Env) -> None:
    provider = env.provider()
    provider.apply(provider.plan(IMAGES))
    value = provider.secrets["inject-password"].value
    stored = env.kube.store.get(env.kube.store.kind_of("Secret"), "demo", "inject-password")
    assert stored is not None and stored["metadata"]["labels"][labels.PROJECT] == "demo"
    assert base64.b64decode(stored["data"]["password"]).decode() == value
    state = env.root.parent / "state" / "devstack" / "demo" / secrets.FILENAME
    assert json.loads(state.read_text())["inject-password"] == value
    assert not any(value in p.read_text(errors="replace") for p in env.root.rglob("*") if p.is_file())


def test_values_never_appear_in_logs_status_or_errors(env: Env) -> None:
    provider = env.provider()
    value = provider.secrets["inject-password"].value
    env.cluster.behaviour["relay"] = "CrashLoopBackOff"
    env.cluster.lines["relay"] = [f"connecting with password={value}"]
    env.cluster.crash_lines["relay"] = [f"auth failed for demo:{value}", "exiting"]
    plan = provider.plan(IMAGES)
    provider.apply(plan)
    with pytest.raises(ReadinessError) as caught:
        provider.wait_ready(plan, 10)
    shown = [str(caught.value), *caught.value.logs, *provider.logs("relay", 10),
             *(f"{s}" for s in provider.status()), repr(plan), repr(provider.secrets)]
    assert value not in "\n".join(shown)
    assert f"auth failed for demo:{secrets.REDACTED}" in caught.value.logs
    assert f"connecting with password={secrets.REDACTED}" in provider.logs("relay", 10)


def test_api_errors_about_a_secret_are_scrubbed(env: Env) -> None:
    provider = env.provider()
    value = provider.secrets["inject-password"].value
    env.kube.store.kinds.pop(("v1", "secrets"))  # the server now rejects every Secret, quoting the request
    with pytest.raises(DeployError) as caught:
        provider.api.call("GET", f"/api/v1/namespaces/demo/secrets/{value}")
    assert value not in str(caught.value) and secrets.REDACTED in str(caught.value)
