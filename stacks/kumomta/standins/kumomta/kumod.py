"""A stand-in for KumoMTA's kumod, for the offline variant of devstack's KumoMTA stack (KumoMTA can be neither
built nor pulled where that variant runs). It is not KumoMTA: it runs no Lua policy and shapes no traffic. It
keeps kumod's contract with the rest of the stack, so the manifests are the same for both variants:

    kumod --policy /opt/kumomta/etc/policy/init.lua --user kumod
    POST /api/inject/v1        HTTP basic auth against the listener keys: one file per user under
                               /opt/kumomta/etc/http_listener_keys/, one password per line (as init.lua checks)
    GET  /api/check-liveness/v1  200, or 503 when the spool does not accept writes
    SMTP on 2500               relaying only for clients in KUMOMTA_RELAY_HOSTS; others are refused at RCPT

An injected message is written to the spool (/var/spool/kumomta, the replica's PVC) once per recipient and the
answer counts what was spooled, as kumod's does. A delivery thread then sends each spooled message to
KUMOMTA_SINK_HOST on port 25 over SMTP, removes it once accepted, keeps it for a retry after a 4xx, and drops it
after a 5xx. Messages left in the spool by a previous run are delivered at start. Each delivery is published to
the TSA daemons (KUMOMTA_TSA_PUBLISH_HOSTS), as kumod's shaping helper does.

Environment (the names init.lua reads): KUMOMTA_SINK_HOST; KUMOMTA_TRUSTED_HOSTS (CIDRs that need no auth;
empty: none); KUMOMTA_RELAY_HOSTS (CIDRs that may relay over SMTP); KUMOMTA_TSA_PUBLISH_HOSTS. relay.py (devstack's
demo relay) supplies the inject API itself.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hmac
import ipaddress
import json
import os
import pwd
import queue
import re
import signal
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

import relay
import smtp_listener

LIVENESS_PATH = "/api/check-liveness/v1"
PUBLISH_PATH = "/publish_log_v1"
KEYS = Path("/opt/kumomta/etc/http_listener_keys")
SPOOL = Path("/var/spool/kumomta")
SMTP_PORT = 25
SMTP_LISTEN = ("0.0.0.0", 2500)
RETRY_S = 2.0
# Short, so that a sink not reachable yet (its Service's rules still being written after a deploy) costs a retry
# soon rather than one long wait; the sink answers in milliseconds once it is.
SMTP_TIMEOUT_S = 5.0
PUBLISH_BACKLOG = 10_000
USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")  # a key file's name: never a path

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Options:
    relay: relay.Config  # listen address and sink; its user and password are unused (the keys folder decides)
    keys: Path
    spool: Path
    trusted: tuple[Network, ...]
    relay_hosts: tuple[Network, ...]
    tsa_publish: tuple[str, ...]


def networks(value: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in value.split(",") if item.strip())


def load_options(env: Mapping[str, str] = os.environ) -> Options:
    sink = env.get("KUMOMTA_SINK_HOST", "")
    if not sink:
        raise SystemExit("kumod stand-in: KUMOMTA_SINK_HOST is not set (the host that receives every message)")
    listen = relay.Config(("0.0.0.0", 8000), (sink, SMTP_PORT), user="", password="")
    urls = env.get("KUMOMTA_TSA_PUBLISH_HOSTS", "").split(",")
    publish = tuple(url.strip().rstrip("/") for url in urls if url.strip())
    return Options(listen, Path(env.get("KUMOMTA_STANDIN_KEYS", KEYS)), Path(env.get("KUMOMTA_STANDIN_SPOOL", SPOOL)),
                   networks(env.get("KUMOMTA_TRUSTED_HOSTS", "")), networks(env.get("KUMOMTA_RELAY_HOSTS", "")),
                   publish)


class Spool:
    """One JSON file per message and recipient, written whole (temporary file, fsync, rename) before it counts."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "standin"

    def put(self, sender: str, recipient: str, message: bytes) -> Path:
        path = self.folder / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        record = {"sender": sender, "recipient": recipient, "message": base64.b64encode(message).decode()}
        temporary = path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(record, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        return path

    def pending(self) -> list[Path]:
        return sorted(self.folder.glob("*.json"))

    def writable(self) -> bool:
        return os.access(self.folder, os.W_OK)

    @staticmethod
    def load(path: Path) -> tuple[str, str, bytes]:
        record = json.loads(path.read_text(encoding="utf-8"))
        return record["sender"], record["recipient"], base64.b64decode(record["message"])


class Deliverer:
    """Sends spooled messages to the sink, one SMTP session per message and recipient (relay.relay)."""

    def __init__(self, options: Options, spool: Spool) -> None:
        self.options, self.spool = options, spool
        self.work: queue.Queue[Path] = queue.Queue()
        # Delivery logs for the TSA daemons, sent by a thread of their own: a slow or absent TSA never holds
        # up a delivery. Bounded: when the TSA cannot keep up, the oldest news is not worth a backlog.
        self.logs: queue.Queue[bytes] = queue.Queue(maxsize=PUBLISH_BACKLOG)
        self.unreachable: set[str] = set()  # TSA URLs already reported, so a missing one logs once

    def start(self) -> None:
        recovered = self.spool.pending()
        if recovered:
            print(f"kumod stand-in: {len(recovered)} message(s) left in the spool by a previous run", flush=True)
        for path in recovered:
            self.work.put(path)
        threading.Thread(target=self.run, name="delivery", daemon=True).start()
        threading.Thread(target=self.publish_all, name="tsa-publish", daemon=True).start()

    def run(self) -> None:
        while True:
            path = self.work.get()
            sender, recipient, message = self.spool.load(path)
            error = relay.relay(self.options.relay, sender, recipient, message, timeout_s=SMTP_TIMEOUT_S)
            if error is None or error.startswith("5"):
                path.unlink()
                self.publish(recipient, error)
                if error:
                    print(f"kumod stand-in: {recipient}: permanent failure, dropped: {error}", flush=True)
            else:
                print(f"kumod stand-in: {recipient}: {error}; retrying in {RETRY_S:g}s", flush=True)
                threading.Timer(RETRY_S, self.work.put, (path,)).start()

    def publish(self, recipient: str, error: str | None) -> None:
        """Queue a delivery record for the TSA daemons (kumod's shaping helper publishes its logs)."""
        record = json.dumps({"type": "Bounce" if error else "Delivery", "recipient": recipient,
                             "response": {"content": error or "250 OK"}}).encode()
        with contextlib.suppress(queue.Full):
            self.logs.put_nowait(record)

    def publish_all(self) -> None:
        while True:
            self.publish_one(self.logs.get())

    def publish_one(self, record: bytes) -> None:
        """One record to each TSA daemon, best effort."""
        for url in self.options.tsa_publish:
            try:
                request = urllib.request.Request(url + PUBLISH_PATH, record, {"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=2):
                    self.unreachable.discard(url)
            except OSError as err:
                if url not in self.unreachable:
                    print(f"kumod stand-in: cannot publish to the TSA at {url}: {err}", flush=True)
                    self.unreachable.add(url)


class StandinServer(relay.RelayServer):
    def __init__(self, options: Options, spool: Spool, deliverer: Deliverer) -> None:
        self.options, self.spool, self.deliverer = options, spool, deliverer
        super().__init__(options.relay, KumodHandler)


class KumodHandler(relay.RelayHandler):
    server_version = "kumod-standin"
    routes: ClassVar[dict[str, str]] = {relay.INJECT_PATH: "POST", LIVENESS_PATH: "GET"}
    quiet = LIVENESS_PATH  # the readiness probe

    def standin(self) -> StandinServer:
        assert isinstance(self.server, StandinServer)
        return self.server

    def answer(self, path: str) -> None:  # only LIVENESS_PATH reaches here
        if self.standin().spool.writable():
            self.send_text(200, "")
        else:
            self.send_text(503, "the spool is not accepting writes")

    def authorized(self, config: relay.Config) -> bool:
        options = self.standin().options
        if within(self.client_address[0], options.trusted):
            return True
        credentials = relay.basic_credentials(self.headers.get("Authorization", ""))
        return credentials is not None and key_matches(options.keys, *credentials)

    def deliver(self, injection: relay.Injection, messages: list[bytes]) -> dict[str, Any]:
        server = self.standin()
        failed, errors = [], []
        for recipient, message in zip(injection.recipients, messages, strict=True):
            try:
                server.deliverer.work.put(server.spool.put(injection.sender, recipient.email, message))
            except OSError as err:
                failed.append(recipient.email)
                errors.append(f"{recipient.email}: spool: {err.strerror}")
        return {"success_count": len(messages) - len(failed), "fail_count": len(failed),
                "failed_recipients": failed, "errors": errors}


def within(address: str, allowed: tuple[Network, ...]) -> bool:
    client = ipaddress.ip_address(address)
    return any(client in network for network in allowed)


def key_matches(keys: Path, user: str, password: str) -> bool:
    """True when `password` is a line of the key file named `user`. The name is checked first, so a user such
    as '../../etc/passwd' can never pick a file outside the keys folder."""
    if not USER_NAME.fullmatch(user):
        return False
    try:
        lines = (keys / user).read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    return any(hmac.compare_digest(password.encode(), line.encode()) for line in lines if line)


def become(user: str | None, spool: Path) -> None:
    """kumod's --user: make the spool the user's, then run as that user (only possible when started as root)."""
    folder = spool / "standin"
    folder.mkdir(parents=True, exist_ok=True)
    if user is None or os.getuid() != 0:
        return
    entry = pwd.getpwnam(user)
    for path in (spool, folder):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kumod", description="kumod stand-in (see the module docstring)")
    parser.add_argument("--policy", type=Path, required=True, help="kumod's policy file: checked, never run")
    parser.add_argument("--user", help="drop privileges to this user after preparing the spool")
    return parser.parse_args(argv)


def stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] = sys.argv[1:]) -> None:
    args = parse_args(argv)
    if not args.policy.is_file():
        raise SystemExit(f"kumod stand-in: --policy {args.policy}: no such file")
    options = load_options()
    become(args.user, options.spool)
    signal.signal(signal.SIGTERM, stop)
    spool = Spool(options.spool)
    deliverer = Deliverer(options, spool)
    deliverer.start()
    smtp_listener.start(SMTP_LISTEN, lambda peer: within(peer, options.relay_hosts),
                        lambda sender, recipient, message: deliverer.work.put(spool.put(sender, recipient, message)))
    with StandinServer(options, spool, deliverer) as server:
        print(f"kumod stand-in (not KumoMTA: {args.policy} is not run) listening on 0.0.0.0:8000 (HTTP) and "
              f"{SMTP_LISTEN[0]}:{SMTP_LISTEN[1]} (SMTP), "
              f"delivering to {options.relay.sink[0]}:{SMTP_PORT}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
