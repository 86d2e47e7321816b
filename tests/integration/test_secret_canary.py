"""A canary dev secret, printed by a swarm service on purpose: its value never appears in anything devstack
outputs (ci, logs, logs --json, status, the daemon's output, a recording, a readiness error's log lines), and
each of those shows `[redacted]` where the service printed it, so the check cannot pass by printing nothing."""

from __future__ import annotations

import json

from tests.daemon import Daemon
from tests.integration.conftest import Project

SECRET = "canary-secret"
UNCHECKED = """
    healthcheck:
      disable: true"""
PRINTS = "import time; print('canary=' + open('/run/secrets/canary-secret').read().strip(), flush=True)"


def with_canary(demo: Project, then: str, *, check: bool) -> None:
    """A service `canary` on the relay's image that prints the dev secret it is given, then runs `then`; with
    `check`, the image's healthcheck (which asks for the relay's port) decides when it is ready: never."""
    config = demo.root / "devstack.toml"
    config.write_text(config.read_text() + f"\n[secrets.{SECRET}]\nlength = 24\n")
    stack = demo.root / "stacks/demo/stack.yml"
    canary = f"""services:
  canary:
    image: relay
    command: ["python3", "-c", "{PRINTS}; {then}"]
    secrets: [{SECRET}]{"" if check else UNCHECKED}
    deploy:
      restart_policy:
        delay: 1s
"""
    text = stack.read_text().replace("services:\n", canary, 1)
    stack.write_text(text.replace("secrets:\n  # Left empty", f"secrets:\n  {SECRET}: {{}}\n  # Left empty", 1))


def test_the_canary_never_appears_in_what_devstack_prints(demo: Project) -> None:
    with_canary(demo, "time.sleep(3600)", check=False)
    ci = demo.devstack("ci", "--timeout", "180")
    assert ci.returncode == 0, ci.stdout + ci.stderr
    value = demo.secret(SECRET)
    outputs = {"ci": ci.stdout + ci.stderr}
    logs = demo.devstack("logs", "canary")
    assert "canary=[redacted]" in logs.stdout, logs.stdout + logs.stderr
    as_json = demo.devstack("logs", "--json", "canary")
    assert any(json.loads(line)["text"] == "canary=[redacted]" for line in as_json.stdout.splitlines())
    status = demo.devstack("status", "--json")
    assert status.returncode == 0 and "canary" in status.stdout
    outputs |= {"logs": logs.stdout + logs.stderr, "logs --json": as_json.stdout + as_json.stderr,
                "status": status.stdout + status.stderr}

    recording = demo.root / "session.cast"
    daemon = Daemon(demo.root, demo.env, "--record", str(recording))
    try:
        daemon.wait_for("watching for changes")
        trigger = demo.devstack("trigger", "canary")  # restarted: the new task prints the canary again
        assert trigger.returncode == 0, trigger.stderr
        daemon.wait_for(r"canary\s+│ canary=\[redacted\]")  # the followed log line, scrubbed
        up_status = demo.devstack("status", "--json")  # answered by the running daemon's control API
    finally:
        assert daemon.stop() == 0
    outputs |= {"up": "\n".join(daemon.lines), "status (daemon)": up_status.stdout + up_status.stderr,
                "trigger": trigger.stdout + trigger.stderr,
                "recording": recording.read_text()}
    assert "canary=[redacted]" in outputs["recording"]
    for name, text in outputs.items():
        assert value not in text, f"the canary's value appears in {name}"


def test_a_readiness_error_shows_the_log_lines_scrubbed(demo: Project) -> None:
    with_canary(demo, "raise SystemExit(3)", check=True)
    result = demo.devstack("ci", "--timeout", "120")
    assert result.returncode == 1, result.stdout
    assert f"{demo.name}_canary: not ready" in result.stderr
    assert "canary=[redacted]" in result.stderr  # the last log lines of the failed service
    assert demo.secret(SECRET) not in result.stdout + result.stderr
