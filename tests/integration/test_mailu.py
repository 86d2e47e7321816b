"""Mailu on the real swarm (the offline variant): `devstack ci` green on a copy with its own project name, ports
and subnet; mail sent and read by hand with Python's own SMTP and IMAP clients; front refuses to relay; a saved
postfix config redeploys smtp alone under `devstack up`; `down` leaves only the volumes, `down --volumes`
nothing. No output of devstack ever holds a dev secret."""

from __future__ import annotations

import email
import imaplib
import ipaddress
import os
import random
import shutil
import smtplib
import ssl
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from tests.daemon import Daemon
from tests.integration.conftest import CREATED, REPO, Project, base_image, free_port, labelled

PORTS = ("SMTP_PORT", "SUBMISSION_PORT", "SUBMISSIONS_PORT", "IMAP_PORT", "IMAPS_PORT", "HTTP_PORT", "HTTPS_PORT",
         "SINK_HTTP_PORT")
MAILBOX = "admin@mailu.test"
SECRETS = ("mailu-admin-password", "mailu-secret-key")


def unused_subnet(engine: docker.DockerClient) -> str:
    """A /24 for the stack's overlay network that no network of this engine overlaps."""
    taken = [ipaddress.ip_network(c["Subnet"]) for n in engine.networks.list(greedy=True)
             for c in ((n.attrs.get("IPAM") or {}).get("Config") or []) if "Subnet" in c]
    for third in random.sample(range(100, 250), 150):
        candidate = ipaddress.ip_network(f"192.168.{third}.0/24")
        if not any(candidate.overlaps(t) for t in taken):
            return str(candidate)
    raise AssertionError("no free 192.168.x.0/24 for the test's network")


def copy_mailu(tmp: Path, engine: docker.DockerClient) -> Project:
    root = tmp / "stacks" / "mailu"  # with ../../sink beside it, as in the repository: the stack's relayhost
    shutil.copytree(REPO / "stacks" / "mailu", root, ignore=shutil.ignore_patterns(".env", ".devstack"))
    shutil.copytree(REPO / "sink", tmp / "sink", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    name = f"mu{uuid.uuid4().hex[:8]}"
    CREATED.append(name)
    config = root / "devstack.toml"
    config.write_text(config.read_text().replace('name = "mailu"', f'name = "{name}"', 1))
    env = {**os.environ, **{port: str(free_port()) for port in PORTS},
           "SUBNET": unused_subnet(engine), "MAILU_VARIANT": "offline", "NO_COLOR": "1"}
    if base_image():  # the sink's base, as `make demo` leaves it recorded
        (root / ".devstack").mkdir()
        (root / ".devstack" / "base-image").write_text(f"{base_image()}\n")
    return Project(root=root, name=name, env=env)


class Mailu:
    def __init__(self, project: Project, ci_output: str) -> None:
        self.project, self.ci_output = project, ci_output
        self.outputs = [ci_output]  # everything devstack printed, checked for secrets at the end

    def port(self, name: str) -> int:
        return self.project.port(name)

    @property
    def password(self) -> str:
        return self.project.secret("mailu-admin-password")


@pytest.fixture(scope="module")
def mailu(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient) -> Iterator[Mailu]:
    project = copy_mailu(tmp_path_factory.mktemp("mailu"), engine)
    # `make test` built the offline base already (make base-image); were it missing, ci would build it first.
    result = project.devstack("ci", "--timeout", "900", timeout=960)
    deployed = Mailu(project, result.stdout + result.stderr)
    try:
        assert result.returncode == 0, deployed.ci_output[-4000:]
        yield deployed
    finally:
        project.devstack("down", "--volumes", "--images")
        for secret in SECRETS:
            value = project.secret(secret)
            assert not [out for out in deployed.outputs if value in out], f"{secret} was printed"


def test_ci_proves_mail_goes_in_by_smtp_and_out_by_imap(mailu: Mailu) -> None:
    out = mailu.ci_output
    assert f"mail-roundtrip (imap): {MAILBOX} via SMTP 127.0.0.1:{mailu.port('SMTP_PORT')}, found by Message-ID " \
           f"over IMAP 127.0.0.1:{mailu.port('IMAP_PORT')} with X-Spamd-Result · smtp " in out
    assert " · login " in out and " · delivery " in out
    assert f"front-smtp (smtp): 127.0.0.1:{mailu.port('SMTP_PORT')} banner ok" in out
    assert "not an open relay (RCPT refused: 554)" in out


def test_cold_ci_starts_each_service_after_what_it_needs_with_no_restart(mailu: Mailu,
                                                                        engine: docker.DockerClient) -> None:
    """depends_on: admin after redis, front after admin; none of them restarts for want of the other."""
    out = mailu.ci_output
    assert "front    waiting on admin" in out and "admin    waiting on redis" in out
    for service in ("redis", "admin", "front"):
        tasks = engine.services.get(f"{mailu.project.name}_{service}").tasks()
        assert len(tasks) == 1 and tasks[0]["Status"]["State"] == "running", (service, tasks)


def test_config_export_command(mailu: Mailu) -> None:
    result = mailu.project.devstack("run", "config-export")
    mailu.outputs.append(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr
    assert "admin    │ domain:" in result.stdout and f"admin    │ - email: {MAILBOX}" in result.stdout


def test_mail_sent_by_hand_is_read_by_hand(mailu: Mailu) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "someone@elsewhere.test", MAILBOX, "by hand"
    message["Message-ID"] = msgid = f"<{uuid.uuid4().hex}@tests.invalid>"
    message.set_content("typed by hand\n")
    with smtplib.SMTP("127.0.0.1", mailu.port("SMTP_PORT"), timeout=30) as smtp:
        assert smtp.send_message(message) == {}
    imap = imaplib.IMAP4("127.0.0.1", mailu.port("IMAP_PORT"), timeout=30)
    try:
        imap.login(MAILBOX, mailu.password)
        head = _wait_for(imap, msgid)
    finally:
        imap.logout()
    assert head["Subject"] == "by hand" and head["X-Spamd-Result"]  # rspamd, as postfix's milter, saw it


def _wait_for(imap: imaplib.IMAP4, msgid: str) -> email.message.Message:
    for _ in range(100):
        imap.select("INBOX")
        _, found = imap.search(None, "HEADER", "Message-ID", f'"{msgid}"')
        if found[0]:
            _, data = imap.fetch(found[0].split()[-1], "(BODY.PEEK[HEADER])")
            return email.message_from_bytes(next(part[1] for part in data if isinstance(part, tuple)))
        imap.noop()
        time.sleep(0.1)
    raise AssertionError(f"{msgid} never reached INBOX")


def test_front_refuses_to_relay_and_bad_logins(mailu: Mailu) -> None:
    with smtplib.SMTP("127.0.0.1", mailu.port("SMTP_PORT"), timeout=30) as smtp:
        smtp.ehlo("outside.test")
        assert smtp.mail("spammer@outside.test")[0] == 250
        code, _ = smtp.rcpt("victim@elsewhere.example")
        assert code == 554
    imap = imaplib.IMAP4("127.0.0.1", mailu.port("IMAP_PORT"), timeout=30)
    with pytest.raises(imaplib.IMAP4.error):
        imap.login(MAILBOX, mailu.password + "x")


def test_ci_proves_outbound_mail_ends_at_the_sink(mailu: Mailu) -> None:
    out = mailu.ci_output
    assert (f"outbound (outbound): devstack-outbound@example.com through Mailu's postfix (smtp) at "
            f"127.0.0.1:{mailu.port('SUBMISSION_PORT')} (STARTTLS, logged in), found at the sink by Message-ID · "
            "accepted ") in out


@pytest.mark.parametrize("port", ["SUBMISSION_PORT", "SUBMISSIONS_PORT"])
def test_a_logged_in_user_sends_to_an_outside_domain_and_it_lands_at_the_sink(mailu: Mailu, port: str) -> None:
    """As a Mailu developer tries it: log in on 587 (STARTTLS offered, as real Mailu offers it) or 465 (TLS), send
    to a domain outside the stack; postfix relays it, to the stack's sink and nowhere else."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = MAILBOX, "friend@elsewhere.example", f"out by {port}"
    message["Message-ID"] = msgid = f"<{uuid.uuid4().hex}@tests.invalid>"
    message.set_content("to the outside\n")
    unchecked = ssl.create_default_context()
    unchecked.check_hostname, unchecked.verify_mode = False, ssl.CERT_NONE  # the stack's own certificate
    if port == "SUBMISSION_PORT":
        smtp: smtplib.SMTP = smtplib.SMTP("127.0.0.1", mailu.port(port), timeout=30)
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        smtp.starttls(context=unchecked)
    else:
        smtp = smtplib.SMTP_SSL("127.0.0.1", mailu.port(port), timeout=30, context=unchecked)
    with smtp:
        smtp.login(MAILBOX, mailu.password)
        assert smtp.send_message(message) == {}
    found = _at_sink(mailu, msgid)
    assert found["rcpt_tos"] == ["friend@elsewhere.example"] and found["subject"] == f"out by {port}"
    assert found["mail_from"] == MAILBOX


def _at_sink(mailu: Mailu, msgid: str) -> dict[str, Any]:
    for _ in range(150):
        answer = httpx.get(f"http://127.0.0.1:{mailu.port('SINK_HTTP_PORT')}/captured",
                           params={"message_id": msgid}, timeout=10).json()
        if answer["messages"]:
            return dict(answer["messages"][0])
        time.sleep(0.2)
    raise AssertionError(f"{msgid} never reached the sink")


def test_outbound_check_fails_naming_the_mta_when_mail_does_not_reach_the_sink(mailu: Mailu) -> None:
    """postfix without the sink as its relayhost would send to the recipient's MX: the check must fail, naming
    the MTA (here the MX cannot even be looked up offline, so postfix defers the message)."""
    main_cf = mailu.project.root / "config/postfix/main.cf"
    original = main_cf.read_text()
    main_cf.write_text(original.replace("relayhost = [sink]:2525", "relayhost =", 1))
    try:
        redeployed = mailu.project.devstack("ci", "--timeout", "600", timeout=700)
        mailu.outputs.append(redeployed.stdout + redeployed.stderr)
    finally:
        main_cf.write_text(original)
    assert redeployed.returncode == 1, redeployed.stdout[-3000:]
    assert "outbound (outbound): FAILED" in redeployed.stdout + redeployed.stderr
    assert ("not there when the time was up: Mailu's postfix (smtp) did not relay it to the sink, so it may be on "
            "its way to the recipient's real MX") in redeployed.stdout + redeployed.stderr
    restored = mailu.project.devstack("ci", "--timeout", "600", timeout=700)
    mailu.outputs.append(restored.stdout + restored.stderr)
    assert restored.returncode == 0, restored.stdout[-3000:]


def test_submission_needs_a_login(mailu: Mailu) -> None:
    with smtplib.SMTP("127.0.0.1", mailu.port("SUBMISSION_PORT"), timeout=30) as smtp:
        smtp.ehlo()
        code, _ = smtp.mail(MAILBOX)
        assert code >= 500  # nginx: authentication required
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login(MAILBOX, mailu.password + "x")


def tasks(engine: docker.DockerClient, service: str) -> set[str]:
    return {t["ID"] for t in engine.services.get(service).tasks(filters={"desired-state": "running"})}


def running(engine: docker.DockerClient, project: Project, service: str) -> Any:
    return engine.containers.list(filters={"label": f"com.docker.swarm.service.name={project.name}_{service}"})[0]


def test_saved_postfix_and_dovecot_configs_redeploy_their_service_only(mailu: Mailu,
                                                                        engine: docker.DockerClient) -> None:
    project = mailu.project
    names = ("front", "imap", "smtp", "antispam")
    before = {name: tasks(engine, f"{project.name}_{name}") for name in names}
    daemon = Daemon(project.root, project.env)
    try:
        daemon.wait_for("watching for changes")
        edit(daemon, project, "postfix/main.cf", "message_size_limit = 52428800", "message_size_limit = 10240000")
        after_postfix = {name: tasks(engine, f"{project.name}_{name}") for name in names}
        edit(daemon, project, "dovecot/dovecot.conf", "protocols = imap lmtp", "protocols = imap lmtp\n"
             "mail_max_userip_connections = 7")
    finally:
        daemon.stop()
        mailu.outputs.append("\n".join(daemon.lines))
    after_dovecot = {name: tasks(engine, f"{project.name}_{name}") for name in names}
    assert [n for n in names if after_postfix[n] != before[n]] == ["smtp"]
    assert [n for n in names if after_dovecot[n] != after_postfix[n]] == ["imap"]
    assert running(engine, project, "smtp").exec_run(["postconf", "-h", "message_size_limit"]).output == b"10240000\n"
    doveconf = running(engine, project, "imap").exec_run(["doveconf", "-h", "mail_max_userip_connections"])
    assert doveconf.output == b"7\n"


def edit(daemon: Daemon, project: Project, rel: str, old: str, new: str) -> None:
    """Save a config file as an editor would; wait for the cycle that redeploys it to pass its smoke tests."""
    path = project.root / "config" / rel
    mark, text = daemon.mark(), path.read_text()
    assert old in text, f"config/{rel} no longer has {old!r}"
    path.write_text(text.replace(old, new, 1))
    line = daemon.wait_for(rf"{project.name} +stack file changed → deployed .* → smoke (✓|✗)", after=mark)
    assert "smoke ✓" in line, "\n".join(daemon.lines[mark:])


def test_down_keeps_the_volumes_unless_asked(mailu: Mailu, engine: docker.DockerClient) -> None:
    project = mailu.project
    volumes = {f"{project.name}_{v}" for v in ("certs", "data", "mail", "mailqueue", "filter", "redis")}
    result = project.devstack("down")
    mailu.outputs.append(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr
    assert not any(labelled(engine, project.name).values())
    selector = {"label": f"dev.devstack.project={project.name}"}
    assert {v.name for v in engine.volumes.list(filters=selector)} == volumes
    result = project.devstack("down", "--volumes")
    mailu.outputs.append(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr
    assert engine.volumes.list(filters=selector) == []
