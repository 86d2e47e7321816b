"""The [[smoke]] tables: one schema per test type, validated at load time like everything else."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from devstack.config import documents
from devstack.config.model import SmokeSpec
from devstack.config.reader import Table
from devstack.errors import ConfigError


@dataclass(frozen=True)
class HttpInject:
    url: str
    payload: Mapping[str, Any]
    username: str | None
    password: str | None  # a secret: never printed
    expect_success: int | None  # None: every recipient of the payload
    expect_fail: int
    sink_stats: str | None  # the sink's /stats URL; set to prove delivery, not only acceptance


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    banner: str | None  # a substring the 220 greeting must contain
    starttls: bool | None  # whether STARTTLS must (true) or must not (false) be advertised; None: either
    relay_check: bool  # an outside-to-outside transaction must be refused
    relay_domain: str


@dataclass(frozen=True)
class Imap:
    host: str
    smtp_port: int
    imap_port: int
    recipient: str  # a local mailbox of the stack
    sender: str  # default: the recipient itself
    username: str  # the IMAP login of the recipient's mailbox
    password: str  # a secret: never printed
    expect_headers: tuple[str, ...]  # headers the delivered message must carry (e.g. a milter's)


@dataclass(frozen=True)
class Outbound:
    host: str
    port: int  # the stack's MTA: its submission port, or any port that takes mail for outside domains
    mta: str  # named in the result and in a failure: "Mailu's postfix", "exim", "kumod"
    sender: str
    recipient: str  # an address outside the stack: the MTA must relay it, to the sink
    sink_url: str  # the HTTP API of the sink the stack's outbound mail must end at
    starttls: bool  # STARTTLS before logging in (the certificate is not checked: a dev stack's own)
    username: str | None  # SMTP AUTH, when the MTA relays for logged-in users only
    password: str | None  # a secret: never printed


@dataclass(frozen=True)
class Http:
    url: str
    status: int
    body_contains: str | None


@dataclass(frozen=True)
class MailmanFlow:
    """A post to a fresh Mailman list, followed from the REST API through exim to the sink and HyperKitty."""

    rest_url: str  # Mailman core's REST API root, e.g. http://127.0.0.1:8001/3.1
    rest_user: str
    rest_password: str | None  # a secret: never printed
    smtp_host: str
    smtp_port: int  # the MTA that receives posts for the list domain (exim)
    sink_url: str  # the sink's HTTP API root (its /captured proves delivery to the member)
    archive_url: str | None  # HyperKitty's root, e.g. http://127.0.0.1:8000/hyperkitty; None: not checked
    domain: str
    member: str
    components: Mapping[str, str]  # core, mta, web, sink → the resource whose logs explain a failure there


def read(table: Table) -> SmokeSpec:
    name = table.string("name")
    kind = table.string("type", choices=tuple(_READERS))
    spec = SmokeSpec(name=name, type=kind, resource=table.string("resource", None),
                     timeout_s=table.number("timeout", 30.0, positive=True), options=_READERS[kind](table))
    table.done()
    return spec


def _url(table: Table, key: str, default: Any = ...) -> Any:
    value = table.string(key) if default is ... else table.string(key, default)
    if value is not None and urlsplit(value).scheme not in ("http", "https"):
        raise table.error(key, f"expected an http:// or https:// URL, got {value!r}")
    return value


def _http_inject(table: Table) -> HttpInject:
    return HttpInject(
        url=_url(table, "url"), payload=_payload(table),
        username=table.string("username", None), password=table.string("password", None),
        expect_success=table.integer("expect_success", None, low=0), expect_fail=table.integer("expect_fail", 0, low=0),
        sink_stats=_url(table, "sink_stats", None))


def _payload(table: Table) -> Mapping[str, Any]:
    """Inline (`payload = {...}`) or from a JSON file (`payload_file = "..."`, relative to devstack.toml)."""
    if table.has("payload") == table.has("payload_file"):
        raise table.error("payload", "give exactly one of 'payload' (a table) or 'payload_file' (a JSON file)")
    key = "payload" if table.has("payload") else "payload_file"
    payload: Any = table.take(key, dict, None) if key == "payload" else _json_file(table, key)
    recipients = payload.get("recipients") if isinstance(payload, dict) else None
    if not isinstance(recipients, list) or not recipients:
        raise table.error(key, "expected an inject payload with a non-empty 'recipients' list")
    return dict(payload)


def _json_file(table: Table, key: str) -> Any:
    value = table.string(key)
    path = table.root / value
    try:
        text = path.read_text(encoding="utf-8")
        return documents.checked(documents.parse(json.loads, text, value), value)
    except (OSError, UnicodeDecodeError):
        raise table.error(key, f"file '{value}' cannot be read") from None
    except json.JSONDecodeError as err:
        raise table.error(key, f"'{value}' is not valid JSON: {err}") from None
    except ConfigError as err:  # nested too deeply
        raise table.error(key, f"'{value}': {err.problem}") from None


def _smtp(table: Table) -> Smtp:
    starttls = table.boolean("starttls", None)
    return Smtp(host=table.string("host", "127.0.0.1"), port=table.integer("port", low=1, high=65535),
                banner=table.string("banner", None), starttls=starttls, relay_check=table.boolean("relay_check", True),
                relay_domain=table.string("relay_domain", "relay-check.invalid"))


def _imap(table: Table) -> Imap:
    recipient = _address(table, "recipient")
    return Imap(host=table.string("host", "127.0.0.1"), smtp_port=table.integer("smtp_port", low=1, high=65535),
                imap_port=table.integer("imap_port", low=1, high=65535), recipient=recipient,
                sender=_address(table, "sender", recipient), username=table.string("username"),
                password=table.string("password"), expect_headers=tuple(table.str_list("expect_headers", [])))


def _outbound(table: Table) -> Outbound:
    username, password = table.string("username", None), table.string("password", None)
    if (username is None) != (password is None):
        raise table.error("username" if username is None else "password", "give both username and password, or "
                          "neither (SMTP AUTH)")
    return Outbound(host=table.string("host", "127.0.0.1"), port=table.integer("port", low=1, high=65535),
                    mta=table.string("mta", "the stack's MTA"),
                    sender=_address(table, "sender", "devstack-smoke@devstack.invalid"),
                    recipient=_address(table, "recipient", "devstack-outbound@example.com"),
                    sink_url=_url(table, "sink_url").rstrip("/"), starttls=table.boolean("starttls", False),
                    username=username, password=password)


def _address(table: Table, key: str, default: Any = ...) -> str:
    value: str = table.string(key) if default is ... else table.string(key, default)
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or any(c in value for c in " <>\r\n"):
        raise table.error(key, f"expected an e-mail address such as 'admin@example.test', got {value!r}")
    return value


def _http(table: Table) -> Http:
    return Http(url=_url(table, "url"), status=table.integer("status", 200, low=100, high=599),
                body_contains=table.string("body_contains", None))


def _mailman_flow(table: Table) -> MailmanFlow:
    defaults = {"core": "mailman-core", "mta": "exim", "web": "mailman-web", "sink": "sink"}
    given = table.str_map("components") if table.has("components") else {}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise table.error(f"components.{unknown[0]}", f"unknown component (expected one of {', '.join(defaults)})")
    return MailmanFlow(
        rest_url=_url(table, "rest_url").rstrip("/"), rest_user=table.string("rest_user", "restadmin"),
        rest_password=table.string("rest_password", None), smtp_host=table.string("smtp_host", "127.0.0.1"),
        smtp_port=table.integer("smtp_port", low=1, high=65535), sink_url=_url(table, "sink_url").rstrip("/"),
        archive_url=(_url(table, "archive_url", None) or "").rstrip("/") or None,
        domain=table.string("domain", "lists.devstack.test"), member=table.string("member", "member@example.test"),
        components={**defaults, **given})


_READERS: dict[str, Callable[[Table], Any]] = {"http-inject": _http_inject, "smtp": _smtp, "imap": _imap,
                                               "http": _http, "mailman-flow": _mailman_flow,
                                               "outbound": _outbound}
