"""`devstack init` as a new user meets it: a compose project with no devstack.toml gets a commented one, which
then runs as it is with `devstack ci` on the real engine (built, deployed, smoke-tested); a second init refuses
to overwrite it; a folder with nothing to start from is a usage error."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import docker

from tests.integration.conftest import CREATED, base_image, free_port

# A mail service of the project's own: accepts mail for its domain only (no open relay), as a real one must.
MAIL = """\
import asyncio
from aiosmtpd.controller import Controller

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not address.endswith("@shop.test"):
            return "550 5.7.1 relaying denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        return "250 OK"

Controller(Handler(), hostname="0.0.0.0", port=2525).start()
print("mail listening on 2525", flush=True)
asyncio.get_event_loop().run_forever()
"""


def _project(tmp_path: Path) -> tuple[Path, dict[str, str], int, int]:
    root = tmp_path / f"shop{uuid.uuid4().hex[:6]}"
    base = base_image() or "python:3.11-slim-bookworm"
    web, mail = free_port(), free_port()
    (root / "web").mkdir(parents=True)
    (root / "web" / "Dockerfile").write_text(f'FROM {base}\nCMD ["python3", "-m", "http.server", "8080"]\n')
    (root / "mail").mkdir()
    (root / "mail" / "Dockerfile").write_text(f'FROM {base}\nCOPY mail.py /\nCMD ["python3", "-u", "/mail.py"]\n')
    (root / "mail" / "mail.py").write_text(MAIL)
    (root / "compose.yaml").write_text(f"""\
services:
  web:
    build: ./web
    ports:
      - {{ target: 8080, published: {web}, mode: host }}
  mail:
    build:
      context: mail
    image: shop/mail
    ports:
      - {{ target: 2525, published: {mail}, mode: host }}
""")
    CREATED.append(root.name)
    env = {**os.environ, "NO_COLOR": "1", "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("DEVSTACK_BASE_IMAGE", None)
    return root, env, web, mail


def _devstack(root: Path, env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devstack", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_init_writes_a_config_that_ci_runs_as_it_is(tmp_path: Path, engine: docker.DockerClient) -> None:
    root, env, web, mail = _project(tmp_path)
    init = _devstack(root, env, "init")
    assert init.returncode == 0, init.stderr
    assert "wrote devstack.toml: provider swarm, 2 image(s), 0 forward(s), 2 smoke test(s)" in init.stdout
    written = (root / "devstack.toml").read_text()
    config = tomllib.loads(written)
    assert config["project"] == {"name": root.name, "provider": "swarm"}
    assert config["images"] == {"web": {"context": "web"}, "mail": {"context": "mail", "ref": "shop/mail"}}
    assert config["swarm"] == {"stack_file": "compose.yaml"}
    assert [(s["name"], s["type"]) for s in config["smoke"]] == [("web-http", "http"), ("mail-smtp", "smtp")]
    assert config["smoke"][0]["url"] == f"http://127.0.0.1:{web}/" and config["smoke"][1]["port"] == mail
    assert written.count("\n# ") > 10  # commented for whoever reads it next
    try:
        ci = _devstack(root, env, "ci", "--timeout", "240")
        assert ci.returncode == 0, ci.stdout + ci.stderr
        assert "web      built" in ci.stdout and "mail     built" in ci.stdout
        assert f"GET http://127.0.0.1:{web}/ → 200" in ci.stdout
        assert "not an open relay" in ci.stdout
    finally:
        down = _devstack(root, env, "down", "--images")
        assert down.returncode == 0, down.stderr


def test_init_never_overwrites(tmp_path: Path) -> None:
    root, env, _, _ = _project(tmp_path)
    (root / "devstack.toml").write_text("# mine\n")
    again = _devstack(root, env, "init")
    assert again.returncode == 2
    assert "devstack.toml exists already: devstack init writes a new file only" in again.stderr
    assert (root / "devstack.toml").read_text() == "# mine\n"


def test_init_of_a_folder_with_nothing_to_deploy_says_what_it_looks_for(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _devstack(tmp_path, {**os.environ, "NO_COLOR": "1"}, "init", "empty")
    assert result.returncode == 2
    assert "nothing in empty to start from: expected a compose file (compose.yaml" in result.stderr
    assert not (empty / "devstack.toml").exists() and "Traceback" not in result.stderr
