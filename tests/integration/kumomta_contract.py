"""The KumoMTA contract: what a developer's tooling touches on kumod and tsa-daemon, as data-driven cases
(tests/data/kumomta-contract/*.json), each with the answer the real daemons gave when recorded.

One harness serves both uses:
- tests/integration/test_kumomta_contract.py runs every case against the stand-ins (stacks/kumomta/standins) and
  compares their answers with the recorded ones;
- `python -m tests.integration.kumomta_contract record --image IMAGE --store-image IMAGE` runs the same cases
  against a KumoMTA image that exists in the local engine (it builds nothing) and writes the answers into the
  case files. The recorded data says which image answered, and when.

Both run the same containers on a network this module creates: kumod (with the stack's policy and the
StatefulSet's environment), two tsa-daemons (one trusting the private ranges, one trusting only loopback), a
capture server that records what kumod publishes to TSA, the sink on port 25, and, for the real kumod, a
Redis-compatible throttle store. Clients reach them only through ports published on 127.0.0.1, or from inside
the sink's container on that network.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import email
import email.policy
import hashlib
import json
import os
import re
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import httpx
import yaml
from docker.models.containers import Container
from docker.models.networks import Network

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "kumomta-contract"
STACK = REPO / "stacks" / "kumomta"
POLICY = STACK / "k8s" / "policy"
USER = "devstack"
PRIVATE = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
HOSTNAME = "kumomta-0"  # kumod's host name, as in the StatefulSet's first pod: it shows in Received headers
WAIT_S = 60.0
SETTLE_S = 1.0  # how long a case that expects nothing at the sink waits before it looks

# Answers to these case kinds are compared on the parts each case lists in "compare"; "status" always.
DEFAULT_SINK_HEADERS = ("X-KumoRef", "Received", "From", "To", "Reply-To", "Subject", "MIME-Version",
                        "Content-Type", "X-Tenant", "X-Custom")


@dataclass
class Targets:
    """Where the cases go: base URLs on 127.0.0.1, the SMTP port, and the containers behind them."""

    urls: dict[str, str]
    smtp_port: int
    key: str
    sink: Container
    capture: Container
    kumod: Container
    published: list[dict[str, Any]] = field(default_factory=list)

    def sink_messages(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.urls['sink']}/captured", timeout=10).json()["messages"])

    def reset_sink(self) -> None:
        httpx.post(f"{self.urls['sink']}/reset", timeout=10).raise_for_status()


# ---------------------------------------------------------------------------------------------- the cases


# The order the cases run in: http.json reads the metrics of the injections before it, tsa.json what kumod
# published for every delivery before it.
FILES = ("inject.json", "http.json", "smtp.json", "tsa.json")


def case_files() -> list[Path]:
    return [DATA / name for name in FILES]


def load_cases() -> list[dict[str, Any]]:
    cases = []
    for path in case_files():
        for case in json.loads(path.read_text())["cases"]:
            cases.append({**case, "file": path.name})
    return cases


def run_case(case: dict[str, Any], targets: Targets) -> dict[str, Any]:
    """The answer to one case, normalised (see `normalise_headers`), in the form the case files record."""
    kind = case.get("kind", "http")
    if case.get("sink") is not None or kind == "smtp-inside":
        targets.reset_sink()
    answer = {"http": http_case, "smtp": smtp_outside_case, "smtp-inside": smtp_inside_case,
              "websocket": websocket_case, "published": published_case}[kind](case, targets)
    if case.get("sink") is not None:
        answer["sink"] = sink_answer(targets, expected_messages(case))
    return answer


def expected_messages(case: dict[str, Any]) -> int:
    """How many messages the case waits for at the sink: as recorded, else what kumod said it accepted."""
    recorded = case.get("recorded", {}).get("sink")
    if recorded is not None:
        return len(recorded)
    return int(case.get("sink") or 0)


def authorization(auth: Any, key: str) -> dict[str, str]:
    if auth == "none":
        return {}
    if isinstance(auth, dict):
        return {"Authorization": auth["header"]}
    password = key if auth == "key" else "not-the-key"
    return {"Authorization": "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode()}


def request_body(case: dict[str, Any]) -> tuple[bytes | None, dict[str, str]]:
    if "json" in case:
        return json.dumps(case["json"]).encode(), {"Content-Type": "application/json"}
    if "oversized_json" in case:  # a valid request whose body is larger than the listener takes
        filler = "x" * int(case["oversized_json"])
        payload = {"envelope_sender": "dev@example.test", "recipients": [{"email": "a@example.test"}],
                   "content": {"text_body": filler}}
        return json.dumps(payload).encode(), {"Content-Type": "application/json"}
    if "body" in case:
        headers = {"Content-Type": case["content_type"]} if case.get("content_type") else {}
        return case["body"].encode(), headers
    return None, {}


def http_case(case: dict[str, Any], targets: Targets) -> dict[str, Any]:
    body, headers = request_body(case)
    headers |= authorization(case.get("auth", "key" if case.get("target", "kumod") == "kumod" else "none"),
                             targets.key)
    url = targets.urls[case.get("target", "kumod")] + case["path"]
    response = httpx.request(case.get("method", "POST"), url, content=body, headers=headers, timeout=30)
    return http_answer(response, case)


def http_answer(response: httpx.Response, case: dict[str, Any]) -> dict[str, Any]:
    media = response.headers.get("content-type")
    answer: dict[str, Any] = {"status": response.status_code, "content_type": media}
    if media and media.startswith("application/json"):
        answer["json"] = response.json()
    elif "families" in case:  # Prometheus text: which of the families the case names are there
        present = set(re.findall(r"^# TYPE (\S+)", response.text, re.M))
        answer["families"] = sorted(name for name in case["families"] if name in present)
    else:
        answer["text"] = response.text
    return answer


def sink_answer(targets: Targets, count: int) -> list[dict[str, Any]]:
    """The messages at the sink once `count` have arrived (or, for 0, after a settling pause)."""
    deadline = time.monotonic() + WAIT_S
    if count == 0:
        time.sleep(SETTLE_S)
    while len(messages := targets.sink_messages()) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    ordered = sorted(messages, key=lambda m: (m["rcpt_tos"], m["mail_from"]))
    return [{"mail_from": m["mail_from"], "rcpt_tos": m["rcpt_tos"], "headers": normalise_headers(m["headers"]),
             "parts": message_parts(targets, m["id"])} for m in ordered]


def message_parts(targets: Targets, message_id: str) -> list[list[Any]]:
    """The message's leaf parts, in order: [content type, decoded text] for text, [content type, size] else."""
    raw = httpx.get(f"{targets.urls['sink']}/captured/{message_id}/raw", timeout=10).content
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts: list[list[Any]] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_content_maintype() == "text":
            charset = part.get_content_charset() or "us-ascii"
            parts.append([part.get_content_type(), payload.decode(charset, "replace").replace("\r\n", "\n")])
        else:
            parts.append([part.get_content_type(), len(payload)])
    return parts


# --------------------------------------------------------------------------------- header normalisation

DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}")
IPV4 = re.compile(r"\b\d{1,3}(\.\d{1,3}){3}\b")
PEER = re.compile(r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b")  # an address, and its port when it has one
SPOOL_ID = re.compile(r"\b[0-9a-f]{32}\b")
BOUNDARY = re.compile(r'boundary="?[^";\s]+"?')


def normalise_headers(headers: list[list[str]]) -> list[list[str]]:
    """Header fields with what differs between runs replaced by a placeholder: dates, addresses, spool ids,
    Message-IDs, MIME boundaries. X-KumoRef is decoded (its JSON is what the contract is about)."""
    result = []
    for name, value in headers:
        lower = name.lower()
        if lower == "date":
            value = "<date>"
        elif lower == "message-id":
            value = "<message-id>"
        elif lower == "x-kumoref":
            value = base64.b64decode(value).decode()
        else:
            value = BOUNDARY.sub('boundary="<boundary>"', SPOOL_ID.sub("<id>", IPV4.sub("<ip>", DATE.sub(
                "<date>", value))))
        result.append([name, value])
    return result


# ---------------------------------------------------------------------------------------------------- SMTP

def smtp_dialogue(sock: socket.socket, commands: list[str]) -> list[list[Any]]:
    """[code, lines] for the greeting and each command, read line by line until a reply's last line."""
    reader = sock.makefile("rb")

    def reply() -> list[Any]:
        lines = []
        while True:
            line = reader.readline().decode(errors="replace").rstrip("\r\n")
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return [int(line[:3]), lines]

    replies = [reply()]
    for command in commands:
        sock.sendall(command.encode() + b"\r\n")
        replies.append(reply())
    return replies


def smtp_outside_case(case: dict[str, Any], targets: Targets) -> dict[str, Any]:
    with socket.create_connection(("127.0.0.1", targets.smtp_port), timeout=10) as sock:
        replies = smtp_dialogue(sock, case["commands"])
    return {"replies": normalise_replies(replies, case)}


def normalise_replies(replies: list[list[Any]], case: dict[str, Any]) -> list[list[Any]]:
    """IP addresses masked; for EHLO, the extension keywords (sorted), not their parameters."""
    result = []
    for code, lines in replies:
        lines = [PEER.sub("<ip>", line) for line in lines]
        if len(lines) > 1 and case.get("keywords"):
            lines = [lines[0], *sorted(line.split()[0].upper() for line in lines[1:])]
        result.append([code, lines])
    return result


INSIDE_SCRIPT = """
import json, smtplib, sys
spec = json.loads(sys.argv[1])
smtp = smtplib.SMTP('kumod', 2500, local_hostname='app.example.test', timeout=20)
replies = [list(smtp.ehlo())[:1]]
replies.append(list(smtp.mail(spec['from']))[:1])
for rcpt in spec['to']:
    replies.append(list(smtp.rcpt(rcpt))[:1])
replies.append(list(smtp.data(spec['message'].encode()))[:1])
smtp.quit()
print(json.dumps(replies))
"""


def smtp_inside_case(case: dict[str, Any], targets: Targets) -> dict[str, Any]:
    """An app in the pod network (the sink's container, a relay host) sends over SMTP."""
    spec = {"from": case["from"], "to": case["to"], "message": case["message"]}
    result = targets.sink.exec_run(["python3", "-c", INSIDE_SCRIPT, json.dumps(spec)])
    if result.exit_code != 0:
        raise AssertionError(f"SMTP from inside the network failed: {result.output.decode()}")
    return {"codes": [reply[0] for reply in json.loads(result.output)]}


# ----------------------------------------------------------------------------------------------- websocket

def websocket_case(case: dict[str, Any], targets: Targets) -> dict[str, Any]:
    """Opens a websocket as kumod's shaping helper does, and reads what arrives within a short wait."""
    host, _, port = targets.urls[case["target"]].removeprefix("http://").partition(":")
    challenge = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET {case['path']} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {challenge}\r\nSec-WebSocket-Version: 13\r\n\r\n")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request.encode())
        reader = sock.makefile("rb")
        status = int(reader.readline().split()[1])
        headers = {}
        while (line := reader.readline().decode().strip()):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        answer: dict[str, Any] = {"status": status}
        if status != 101:
            return answer
        expected = base64.b64encode(hashlib.sha1((challenge + WEBSOCKET_GUID).encode()).digest()).decode()
        answer["accept_matches"] = headers.get("sec-websocket-accept") == expected
        answer["messages"] = read_frames(sock, reader, SETTLE_S)
        sock.sendall(bytes([0x88, 0x80]) + os.urandom(4))  # a masked close frame, as clients must send
    return answer


WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B73"


def read_frames(sock: socket.socket, reader: Any, wait_s: float) -> list[str]:
    """Text frames that arrive within wait_s (a server with nothing to say sends none)."""
    messages: list[str] = []
    sock.settimeout(wait_s)
    with contextlib.suppress(TimeoutError, OSError):
        while True:
            first, second = reader.read(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(reader.read(2), "big")
            elif length == 127:
                length = int.from_bytes(reader.read(8), "big")
            payload = reader.read(length)
            if first & 0x0F == 0x1:
                messages.append(payload.decode())
            elif first & 0x0F == 0x8:
                break
    return messages


# ------------------------------------------------------------------------------- what kumod publishes to TSA

def published_case(case: dict[str, Any], targets: Targets) -> dict[str, Any]:
    """The log records kumod posted to TSA after the cases before this one: their types and keys."""
    deadline = time.monotonic() + WAIT_S
    while not (records := captured_records(targets.capture)) and time.monotonic() < deadline:
        time.sleep(0.2)
    types = sorted({record.get("type", "") for record in records})
    keys = sorted({key for record in records for key in record if key != "_content_type"})
    return {"types": types, "keys": keys, "content_types": sorted({r["_content_type"] for r in records})}


CAPTURE_SCRIPT = """
import http.server, json, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
        print(json.dumps({'path': self.path, 'content_type': self.headers.get('Content-Type'),
                          'body': body.decode(errors='replace')}), flush=True)
        self.send_response(200)
        self.send_header('Content-Length', '0')
        self.end_headers()
    do_GET = do_POST
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(('0.0.0.0', 8008), Handler).serve_forever()
"""


def captured_records(capture: Container) -> list[dict[str, Any]]:
    """The JSON records posted to the capture server's /publish_log_v1, each with its Content-Type."""
    records = []
    for line in capture.logs(stdout=True, stderr=False).decode().splitlines():
        entry = json.loads(line)
        if entry["path"] == "/publish_log_v1":
            records.append({**json.loads(entry["body"]), "_content_type": entry["content_type"]})
    return records


# ------------------------------------------------------------------------------------------------ compare

def differences(case: dict[str, Any], answer: dict[str, Any]) -> list[str]:
    """What in `answer` differs from the recorded answer, on the parts the case compares."""
    recorded = case["recorded"]
    found = []
    for part in ["status", *case.get("compare", [])]:
        mine, theirs = compared_part(part, answer, case), compared_part(part, recorded, case)
        if mine != theirs:
            found.append(f"{part}: recorded {theirs!r}, got {mine!r}")
    return found


def compared_part(part: str, answer: dict[str, Any], case: dict[str, Any]) -> Any:
    if part == "prefix":  # the first words of a text answer, up to the first ':'
        return answer.get("text", "").partition(":")[0]
    if part == "counts":
        body = answer.get("json") or {}
        errors = [e.partition(": ")[0] for e in body.get("errors", [])]
        return [body.get("success_count"), body.get("fail_count"), body.get("failed_recipients"), errors]
    if part == "errors":  # the per-recipient error texts, whole
        return (answer.get("json") or {}).get("errors")
    if part == "media":
        return (answer.get("content_type") or "").partition(";")[0]
    if part == "sink":
        names = {n.lower() for n in case.get("sink_headers", DEFAULT_SINK_HEADERS)}
        return [[m["mail_from"], m["rcpt_tos"], [h for h in m["headers"] if h[0].lower() in names]]
                for m in answer.get("sink") or []]
    if part == "parts":  # what the recipients read: each part's type and decoded text
        return [m["parts"] for m in answer.get("sink") or []]
    return answer.get(part)


# ------------------------------------------------------------------------------------------ the containers

@dataclass(frozen=True)
class Images:
    kumomta: str  # kumod and tsa-daemon
    sink: str
    store: str | None  # the throttle store; the stand-in kumod never contacts it


def statefulset_env(name: str) -> dict[str, str]:
    """The literal environment of a StatefulSet's first container in the stack's manifests."""
    for document in yaml.safe_load_all((STACK / "k8s" / f"{name}.yaml").read_text()):
        if document and document["kind"] == "StatefulSet":
            env = document["spec"]["template"]["spec"]["containers"][0]["env"]
            return {item["name"]: item["value"] for item in env if "value" in item}
    raise LookupError(f"no StatefulSet in k8s/{name}.yaml")


def published_url(container: Container, port: int) -> str:
    container.reload()
    return f"http://127.0.0.1:{container.ports[f'{port}/tcp'][0]['HostPort']}"


def address(container: Container, network: Network) -> str:
    container.reload()
    return str(container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"])


class Runner:
    """Starts containers on one network, each under an alias, and removes them all at the end."""

    def __init__(self, engine: docker.DockerClient) -> None:
        self.engine = engine
        self.network = engine.networks.create(f"kumo-contract-{uuid.uuid4().hex[:8]}")
        self.started: list[Container] = []

    def run(self, image: str, alias: str, *ports: int, **kwargs: Any) -> Container:
        container = self.engine.containers.run(
            image, detach=True, network=self.network.name, hostname=kwargs.pop("hostname", alias),
            ports={f"{port}/tcp": ("127.0.0.1", None) for port in ports}, **kwargs)
        self.network.disconnect(container)
        self.network.connect(container, aliases=[alias])
        self.started.append(container)
        return container

    def close(self) -> None:
        for container in self.started:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
        self.network.remove()


def kumod_env(relay_host: str) -> dict[str, str]:
    """The StatefulSet's environment, with the cluster's host names replaced by this network's aliases."""
    env = statefulset_env("kumomta")
    return env | {"POD_NAMESPACE": "contract", "KUMOMTA_SINK_HOST": "sink",
                  "KUMOMTA_REDIS_URL": "redis://dragonfly:6379",
                  "KUMOMTA_TSA_PUBLISH_HOSTS": "http://tsa:8008,http://tsa-capture:8008",
                  "KUMOMTA_TSA_SUBSCRIBE_HOSTS": "http://tsa:8008",
                  # Only the sink's container may relay: the test's own connections come through the bridge.
                  "KUMOMTA_RELAY_HOSTS": relay_host}


@contextlib.contextmanager
def running(engine: docker.DockerClient, images: Images, keys: Path) -> Iterator[Targets]:
    """kumod, two tsa-daemons, the capture server, the sink (and the store) on a network of their own."""
    runner = Runner(engine)
    try:
        policy = {str(POLICY): {"bind": "/opt/kumomta/etc/policy", "mode": "ro"}}
        sink = runner.run(images.sink, "sink", 8025, environment={
            "SINK_LISTEN": "0.0.0.0:25", "SINK_HTTP": "0.0.0.0:8025", "SINK_CAPTURE": "200"})
        capture = runner.run(images.sink, "tsa-capture", command=["python3", "-u", "-c", CAPTURE_SCRIPT])
        if images.store:
            runner.run(images.store, "dragonfly")
        tsa_command = ["/opt/kumomta/sbin/tsa-daemon", "--policy", "/opt/kumomta/etc/policy/tsa_init.lua"]
        tsa_env = statefulset_env("tsa")
        tsa = runner.run(images.kumomta, "tsa", 8008, command=tsa_command, volumes=policy, user="999:999",
                         environment=tsa_env)
        strict = runner.run(images.kumomta, "strict-tsa", 8008, command=tsa_command, volumes=policy,
                            user="999:999", environment=tsa_env | {"KUMOMTA_TSA_TRUSTED_HOSTS": "127.0.0.1"})
        kumod = runner.run(images.kumomta, "kumod", 8000, 8001, 2500, hostname=HOSTNAME, volumes={
            **policy, str(keys): {"bind": "/opt/kumomta/etc/http_listener_keys", "mode": "ro"}},
            command=["/opt/kumomta/sbin/kumod", "--policy", "/opt/kumomta/etc/policy/init.lua", "--user", "kumod"],
            environment=kumod_env(address(sink, runner.network)))
        urls = {"kumod": published_url(kumod, 8000), "admin": published_url(kumod, 8001),
                "tsa": published_url(tsa, 8008), "strict-tsa": published_url(strict, 8008),
                "sink": published_url(sink, 8025)}
        targets = Targets(urls, int(published_url(kumod, 2500).rpartition(":")[2]), (keys / USER).read_text().strip(),
                          sink, capture, kumod)
        wait_until_up(targets, {"kumod": kumod, "the sink": sink, "tsa": tsa, "strict-tsa": strict})
        yield targets
    finally:
        runner.close()


def wait_until_up(targets: Targets, containers: dict[str, Container]) -> None:
    """Until each answers. Docker's proxy accepts on a published port before the container listens, then resets
    the connection: a refused or reset request is retried. On a timeout, the log of the one that did not answer."""
    checks: list[tuple[str, Callable[[], bool]]] = [
        ("kumod", lambda: httpx.get(f"{targets.urls['kumod']}/api/check-liveness/v1").status_code == 200),
        ("the sink", lambda: httpx.get(f"{targets.urls['sink']}/healthz").status_code == 200),
        ("tsa", lambda: httpx.get(f"{targets.urls['tsa']}/get_config_v1/shaping.toml").status_code == 200),
        ("strict-tsa", lambda: httpx.get(f"{targets.urls['strict-tsa']}/get_config_v1/shaping.toml").status_code
         > 0),
    ]
    for what, check in checks:
        deadline = time.monotonic() + WAIT_S
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if check():
                    break
            if time.monotonic() > deadline:
                container = containers[what]
                container.reload()
                logs = container.logs(tail=40).decode(errors="replace")
                raise TimeoutError(f"{what} did not answer within {WAIT_S:g} s ({container.status}); its log:\n{logs}")
            time.sleep(0.2)


def make_keys(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / USER).write_text(base64.b32encode(os.urandom(20)).decode().lower() + "\n")
    folder.chmod(0o755)
    (folder / USER).chmod(0o644)
    return folder


# -------------------------------------------------------------------------------------------- the recorder

def record(images: Images, keys: Path) -> int:
    engine = docker.from_env()
    by_file: dict[str, list[dict[str, Any]]] = {}
    failed = 0
    with running(engine, images, keys) as targets:
        for case in load_cases():
            case = {k: v for k, v in case.items() if k != "recorded"}  # waits as the case says, not as last time
            try:
                answer = run_case(case, targets)
            except Exception as error:  # kept in the data as an error: the contract test refuses it
                answer, failed = {"error": f"{type(error).__name__}: {error}"}, failed + 1
            print(f"{case['file']}: {case['name']}: {json.dumps(answer)[:200]}", flush=True)
            by_file.setdefault(case["file"], []).append({k: v for k, v in case.items() if k != "file"}
                                                        | {"recorded": answer})
    stamp = {"image": images.kumomta, "image_id": engine.images.get(images.kumomta).id,
             "store": images.store, "date": datetime.date.today().isoformat()}
    for name, cases in by_file.items():
        path = DATA / name
        document = json.loads(path.read_text())
        document["recorded_from"] = stamp
        document["cases"] = cases
        path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    if failed:
        print(f"{failed} case(s) could not run: their answers are recorded as errors", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.kumomta_contract",
                                     description="Record the real daemons' answers to the KumoMTA contract cases.")
    parser.add_argument("command", choices=["record"])
    parser.add_argument("--image", required=True, help="a KumoMTA image present in the local engine")
    parser.add_argument("--store-image", required=True, help="a Redis-compatible store listening on 6379")
    parser.add_argument("--sink-image", required=True, help="devstack's sink image")
    parser.add_argument("--keys", type=Path, required=True, help="a folder for the listener key (created)")
    args = parser.parse_args(argv)
    return record(Images(args.image, args.sink_image, args.store_image), make_keys(args.keys))


if __name__ == "__main__":
    sys.exit(main())
