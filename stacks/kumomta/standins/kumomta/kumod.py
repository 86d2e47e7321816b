"""A stand-in for KumoMTA's kumod, for the offline variant of devstack's KumoMTA stack. It is not KumoMTA: it runs
no Lua policy and shapes no traffic. It keeps kumod's contract with the rest of the stack, as recorded from the
real kumod in tests/data/kumomta-contract (the README beside the stack lists what differs), so the manifests are
the same for both variants:

    kumod --policy /opt/kumomta/etc/policy/init.lua --user kumod
    8000  POST /api/inject/v1 (inject.py), GET /api/check-liveness/v1; basic auth against the listener keys:
          one file per user under /opt/kumomta/etc/http_listener_keys/, one password per line (as init.lua checks)
    8001  the same for KUMOMTA_ADMIN_TRUSTED_HOSTS without a password, plus /metrics and the admin routes kcli's
          list commands use
    2500  SMTP (smtp_listener.py), relaying only for KUMOMTA_RELAY_HOSTS

Every accepted message (HTTP or SMTP, as init.lua routes both) is written to the spool (/var/spool/kumomta, the
replica's PVC) once per recipient before it counts. A delivery thread sends each to KUMOMTA_SINK_HOST on port 25,
removes it once accepted, keeps it for a retry after a 4xx, and drops it after a 5xx; what is left in the spool
is delivered after a restart. Each outcome is published to every TSA in KUMOMTA_TSA_PUBLISH_HOSTS as the log
record kumod's shaping helper publishes (Delivery, TransientFailure, Bounce; never Reception).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hmac
import json
import os
import pwd
import queue
import re
import signal
import smtplib
import socket
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpbase
import inject
import smtp_listener
from httpbase import Identity, Network, Refusal, Route, stop

LIVENESS_PATH = "/api/check-liveness/v1"
INJECT_PATH = "/api/inject/v1"
PUBLISH_PATH = "/publish_log_v1"
KEYS = Path("/opt/kumomta/etc/http_listener_keys")
SPOOL = Path("/var/spool/kumomta")
SMTP_PORT = 25
HTTP_PORT, ADMIN_PORT = 8000, 8001
SMTP_LISTEN = ("0.0.0.0", 2500)
RETRY_S = 2.0
# Short, so that a sink not reachable yet (its Service's rules still being written after a deploy) costs a retry
# soon rather than one long wait; the sink answers in milliseconds once it is.
SMTP_TIMEOUT_S = 5.0
PUBLISH_BACKLOG = 10_000
USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")  # a key file's name: never a path
NODE_ID = str(uuid.uuid4())


@dataclass(frozen=True)
class Options:
    sink: str
    hostname: str
    keys: Path
    spool: Path
    trusted: tuple[Network, ...]
    admin_trusted: tuple[Network, ...]
    relay_hosts: tuple[Network, ...]
    tsa_publish: tuple[str, ...]


def load_options(env: Mapping[str, str] = os.environ) -> Options:
    sink = env.get("KUMOMTA_SINK_HOST", "")
    if not sink:
        raise SystemExit("kumod stand-in: KUMOMTA_SINK_HOST is not set (the host that receives every message)")
    urls = env.get("KUMOMTA_TSA_PUBLISH_HOSTS", "").split(",")
    publish = tuple(url.strip().rstrip("/") for url in urls if url.strip())
    return Options(sink, socket.gethostname(), Path(env.get("KUMOMTA_STANDIN_KEYS", KEYS)),
                   Path(env.get("KUMOMTA_STANDIN_SPOOL", SPOOL)),
                   trusted=httpbase.networks(env.get("KUMOMTA_TRUSTED_HOSTS", "")),
                   admin_trusted=httpbase.networks(env.get("KUMOMTA_ADMIN_TRUSTED_HOSTS", "")),
                   relay_hosts=httpbase.networks(env.get("KUMOMTA_RELAY_HOSTS", "")), tsa_publish=publish)


@dataclass(frozen=True)
class Spooled:
    id: str
    sender: str
    recipient: str
    message: bytes
    created: int
    protocol: str


class Spool:
    """One JSON file per message and recipient, written whole (temporary file, fsync, rename) before it counts."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "standin"

    def put(self, sender: str, recipient: str, message: bytes, protocol: str) -> Path:
        path = self.folder / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        record = {"id": uuid.uuid4().hex, "sender": sender, "recipient": recipient, "created": int(time.time()),
                  "protocol": protocol, "message": base64.b64encode(message).decode()}
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
    def load(path: Path) -> Spooled:
        record = json.loads(path.read_text(encoding="utf-8"))
        return Spooled(record.get("id", path.stem), record["sender"], record["recipient"],
                       base64.b64decode(record["message"]), record.get("created", 0), record.get("protocol", "HTTP"))


class Deliverer:
    """Sends spooled messages to the sink, one SMTP session per message and recipient."""

    def __init__(self, options: Options, spool: Spool) -> None:
        self.options, self.spool = options, spool
        self.work: queue.Queue[Path] = queue.Queue()
        # Log records for the TSA daemons, sent by a thread of their own: a slow or absent TSA never holds
        # up a delivery. Bounded: when the TSA cannot keep up, the oldest news is not worth a backlog.
        self.logs: queue.Queue[bytes] = queue.Queue(maxsize=PUBLISH_BACKLOG)
        self.unreachable: set[str] = set()  # TSA URLs already reported, so a missing one logs once
        self.attempts: dict[str, int] = {}

    def accept(self, sender: str, recipient: str, message: bytes, protocol: str) -> None:
        self.work.put(self.spool.put(sender, recipient, message, protocol))

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
            item = self.spool.load(path)
            code, text = self.send(item)
            self.publish(item, code, text)
            if code < 400 or code >= 500:
                path.unlink()
                self.attempts.pop(item.id, None)
                if code >= 500:
                    print(f"kumod stand-in: {item.recipient}: permanent failure, dropped: {code} {text}", flush=True)
            else:
                self.attempts[item.id] = self.attempts.get(item.id, 0) + 1
                print(f"kumod stand-in: {item.recipient}: {code} {text}; retrying in {RETRY_S:g}s", flush=True)
                threading.Timer(RETRY_S, self.work.put, (path,)).start()

    def send(self, item: Spooled) -> tuple[int, str]:
        try:
            # A fixed EHLO name: the default looks up this host's FQDN, which can stall without DNS.
            with smtplib.SMTP(self.options.sink, SMTP_PORT, local_hostname=self.options.hostname,
                              timeout=SMTP_TIMEOUT_S) as smtp:
                smtp.sendmail(item.sender, [item.recipient], item.message)
        except smtplib.SMTPRecipientsRefused as err:
            code, reply = err.recipients[item.recipient]
            return code, reply.decode(errors="replace")
        except smtplib.SMTPResponseException as err:
            return err.smtp_code, err.smtp_error.decode(errors="replace")
        except OSError as err:  # connection refused or dropped, timeout: transient, as for kumod
            return 451, f"sink {self.options.sink}:{SMTP_PORT}: {err}"
        return 250, "OK"

    def publish(self, item: Spooled, code: int, text: str) -> None:
        """Queue the outcome's log record for the TSA daemons, in the form kumod publishes."""
        record = log_record(item, code, text, self.options, self.attempts.get(item.id, 0) + 1)
        with contextlib.suppress(queue.Full):
            self.logs.put_nowait(json.dumps(record).encode())

    def publish_all(self) -> None:
        while True:
            self.publish_one(self.logs.get())

    def publish_one(self, record: bytes) -> None:
        """One record to each TSA daemon, one POST each, as kumod's log hook sends them; best effort."""
        for url in self.options.tsa_publish:
            try:
                request = urllib.request.Request(url + PUBLISH_PATH, record, {"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=2):
                    self.unreachable.discard(url)
            except OSError as err:
                if url not in self.unreachable:
                    print(f"kumod stand-in: cannot publish to the TSA at {url}: {err}", flush=True)
                    self.unreachable.add(url)


def log_record(item: Spooled, code: int, text: str, options: Options, attempts: int) -> dict[str, Any]:
    """A kumod JSON log record (kumo-log-types' JsonLogRecord) for one delivery attempt."""
    kind = "Delivery" if code < 400 else ("TransientFailure" if code < 500 else "Bounce")
    domain = item.recipient.rpartition("@")[2]
    return {
        "type": kind, "id": item.id, "sender": item.sender, "recipient": item.recipient,
        "queue": domain, "site": f"{options.sink}:{SMTP_PORT}", "size": len(item.message),
        "response": {"code": code, "enhanced_code": None, "content": text, "command": None},
        "peer_address": {"name": options.sink, "addr": options.sink}, "timestamp": int(time.time()),
        "created": item.created, "num_attempts": attempts - 1 if kind == "Delivery" else attempts,
        "bounce_classification": "Uncategorized", "egress_pool": "shared", "egress_source": "pod",
        "source_address": None, "feedback_report": None, "meta": {}, "headers": {}, "delivery_protocol": "ESMTP",
        "reception_protocol": item.protocol, "nodeid": NODE_ID,
    }


# ------------------------------------------------------------------------------------------------- HTTP

class KumodServer(httpbase.Server):
    def __init__(self, port: int, trusted: tuple[Network, ...], options: Options, spool: Spool,
                 deliverer: Deliverer) -> None:
        self.trusted, self.options, self.spool, self.deliverer = trusted, options, spool, deliverer
        super().__init__(("0.0.0.0", port), KumodHandler)


def liveness(handler: KumodHandler, identity: Identity) -> None:
    if handler.kumod().spool.writable():
        handler.send(200, b"OK", None)
    else:
        handler.send(503, b"storage is too full", None)


def inject_v1(handler: KumodHandler, identity: Identity) -> None:
    server = handler.kumod()
    request = inject.parse(handler.json_body())
    if request.get("deferred_generation"):
        raise Refusal(500, "Error: deferred_generation is not supported by the kumod stand-in")
    answer = inject.inject(request, handler.client_address[0], server.options.hostname,
                           lambda sender, rcpt, message: server.deliverer.accept(sender, rcpt, message, "HTTP"))
    handler.send_json(200, answer)


def metrics(handler: KumodHandler, identity: Identity) -> None:
    """Prometheus text with the counters a dashboard starts from (a few of kumod's many families)."""
    counts = handler.kumod().deliverer
    lines = ["# HELP total_messages_received total number of messages received",
             "# TYPE total_messages_received counter",
             "# HELP ready_count number of messages in the ready queue", "# TYPE ready_count gauge",
             f"ready_count {counts.work.qsize()}"]
    handler.send(200, ("\n".join(lines) + "\n").encode(), httpbase.TEXT)


def empty_list(handler: KumodHandler, identity: Identity) -> None:
    handler.send_json(200, [])


class KumodHandler(httpbase.Handler):
    server_version = "kumod-standin"
    quiet: ClassVar[set[str]] = {LIVENESS_PATH}  # the readiness probe
    routes: ClassVar[dict[str, list[Route]]] = {
        LIVENESS_PATH: [Route("GET", liveness, exempt=True)],
        INJECT_PATH: [Route("POST", inject_v1)],
        "/metrics": [Route("GET", metrics, trusted_only=True)],
        "/api/admin/bounce/v1": [Route("GET", empty_list, trusted_only=True)],
        "/api/admin/suspend/v1": [Route("GET", empty_list, trusted_only=True)],
    }

    def kumod(self) -> KumodServer:
        assert isinstance(self.server, KumodServer)
        return self.server

    def trusted_hosts(self) -> tuple[Network, ...]:
        return self.kumod().trusted

    def check_basic(self, user: str, password: str | None) -> bool:
        return password is not None and key_matches(self.kumod().options.keys, user, password)


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
    parser.add_argument("--validate", action="store_true", help="check the policy file exists, then exit")
    return parser.parse_args(argv)


def serve(server: httpbase.Server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name=f"http-{server.server_address[1]}", daemon=True)
    thread.start()
    return thread


def main(argv: Sequence[str] = sys.argv[1:]) -> None:
    args = parse_args(argv)
    if not args.policy.is_file():
        raise SystemExit(f"kumod stand-in: --policy {args.policy}: no such file")
    if args.validate:
        return
    options = load_options()
    become(args.user, options.spool)
    signal.signal(signal.SIGTERM, stop)
    spool = Spool(options.spool)
    deliverer = Deliverer(options, spool)
    deliverer.start()
    smtp_listener.start(SMTP_LISTEN, options.hostname, lambda peer: httpbase.within(peer, options.relay_hosts),
                        lambda sender, recipient, message: deliverer.accept(sender, recipient, message, "ESMTP"))
    admin = KumodServer(ADMIN_PORT, options.admin_trusted, options, spool, deliverer)
    serve(admin)
    with KumodServer(HTTP_PORT, options.trusted, options, spool, deliverer) as server:
        print(f"kumod stand-in (not KumoMTA: {args.policy} is not run) listening on 0.0.0.0:{HTTP_PORT} (HTTP), "
              f"0.0.0.0:{ADMIN_PORT} (admin) and {SMTP_LISTEN[0]}:{SMTP_LISTEN[1]} (SMTP), "
              f"delivering to {options.sink}:{SMTP_PORT}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
