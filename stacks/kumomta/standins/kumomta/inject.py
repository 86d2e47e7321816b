"""The kumod stand-in's inject API v1: the request checked as kumod's serde types check it (unknown fields and
wrong types refused with 422, as axum words it), templates compiled once (a syntax error is a 500 before any
recipient), then one message per recipient, generated as kumod's MessageBuilder lays it out, with kumod's
trace headers. A bad recipient fails alone; the answer is {success_count, fail_count, failed_recipients, errors}.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import email.utils
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mime
import templates
from httpbase import Refusal

DESERIALIZE = "Failed to deserialize the JSON body into the target type"
REQUEST_FIELDS = {"envelope_sender": str, "recipients": list, "content": None, "substitutions": dict,
                  "deferred_spool": bool, "deferred_generation": bool, "trace_headers": dict}
REQUIRED = ("envelope_sender", "recipients", "content")
RECIPIENT_FIELDS = {"email": str, "name": (str, type(None)), "substitutions": dict}
BUILDER_FIELDS = {"text_body": (str, type(None)), "html_body": (str, type(None)), "attachments": list,
                  "headers": dict, "from": (dict, type(None)), "subject": (str, type(None)),
                  "reply_to": (dict, type(None))}
ATTACHMENT_FIELDS = {"data": str, "content_type": str, "content_id": (str, type(None)),
                     "file_name": (str, type(None)), "base64": bool}
MAILBOX_FIELDS = {"email": str, "name": (str, type(None))}
TRACE_FIELDS = {"received_header": bool, "supplemental_header": bool, "header_name": str, "include_meta_names": list}


@dataclass(frozen=True)
class Trace:
    """kumod's trace_headers. Without the field, no Received header; with it, each flag defaults to true."""

    received: bool = False
    supplemental: bool = True
    header_name: str = "X-KumoRef"


@dataclass(frozen=True)
class Generated:
    recipient: str
    message: bytes


def refuse(detail: str) -> Refusal:
    return Refusal(422, f"{DESERIALIZE}: {detail}")


def check_fields(value: Any, fields: dict[str, Any], where: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON object with only these fields, each of its type (None: any); serde's rules for structs."""
    if not isinstance(value, dict):
        raise refuse(f"{where}: invalid type: expected a map")
    for name, item in value.items():
        if name not in fields:
            expected = ", ".join(f"`{field}`" for field in fields)
            raise refuse(f"{where}{name}: unknown field `{name}`, expected one of {expected}")
        kind = fields[name]
        if kind is not None and not (isinstance(item, kind) and not (kind is int and isinstance(item, bool))):
            raise refuse(f"{where}{name}: invalid type: {type_name(item)}")
    for name in required:
        if name not in value:
            raise refuse(f"{where}missing field `{name}`")
    return value


def type_name(value: Any) -> str:
    return {type(None): "null", bool: "boolean", int: "integer", float: "floating point", str: "string",
            list: "sequence", dict: "map"}.get(type(value), "value")


def parse(request: Any) -> dict[str, Any]:
    check_fields(request, REQUEST_FIELDS, "", REQUIRED)
    for index, recipient in enumerate(request["recipients"]):
        check_fields(recipient, RECIPIENT_FIELDS, f"recipients[{index}].", ("email",))
    content = request["content"]
    if isinstance(content, dict):
        try:
            check_builder(content)
        except Refusal:
            raise refuse("content: data did not match any variant of untagged enum Content") from None
    elif not isinstance(content, str):
        raise refuse("content: data did not match any variant of untagged enum Content")
    if "trace_headers" in request:
        check_fields(request["trace_headers"], TRACE_FIELDS, "trace_headers.")
    return request


def check_builder(content: dict[str, Any]) -> None:
    check_fields(content, BUILDER_FIELDS, "content.")
    for index, attachment in enumerate(content.get("attachments", [])):
        check_fields(attachment, ATTACHMENT_FIELDS, f"attachments[{index}].", ("data", "content_type"))
    for name in ("from", "reply_to"):
        if content.get(name) is not None:
            check_fields(content[name], MAILBOX_FIELDS, f"{name}.", ("email",))
    if not all(isinstance(value, str) for value in content.get("headers", {}).values()):
        raise refuse("content.headers: invalid type: expected a string")


def trace_of(request: dict[str, Any]) -> Trace:
    given = request.get("trace_headers")
    if given is None:
        return Trace()
    return Trace(given.get("received_header", True), given.get("supplemental_header", True),
                 given.get("header_name", "X-KumoRef"))


def check_address(text: str) -> str:
    """kumod's EnvelopeAddress: empty (the null sender) or exactly one '@'."""
    if text and text.count("@") != 1:
        raise ValueError("expected user@domain")
    return text


# --------------------------------------------------------------------------------------------- generation

@dataclass(frozen=True)
class Compiled:
    """The request's templates, in kumod's order: text body, html body, then each header (sorted by name)."""

    body: templates.Template | None  # RFC 822 content
    text: templates.Template | None
    html: templates.Template | None
    headers: tuple[tuple[str, templates.Template], ...]
    attachments: tuple[mime.Part, ...]


def builder_headers(content: dict[str, Any]) -> dict[str, str]:
    """The builder's header map: its headers, then From, Reply-To and Subject from their shortcuts."""
    headers = dict(content.get("headers", {}))
    for field, name in (("from", "From"), ("reply_to", "Reply-To")):
        if content.get(field) is not None:
            mailbox = content[field]
            headers[name] = mime.mailbox(mailbox.get("name"), check_address(mailbox["email"]))
    if content.get("subject") is not None:
        headers["Subject"] = content["subject"]
    return dict(sorted(headers.items()))


def compile_request(request: dict[str, Any]) -> Compiled:
    content = request["content"]
    try:
        if isinstance(content, str):
            return Compiled(templates.compile_template("0", content), None, None, (), ())
        text, html = content.get("text_body"), content.get("html_body")
        if text is None and html is None:
            raise Refusal(500, "Error: at least one of text_body and/or html_body must be given")
        names = iter(range(10_000))
        compiled_text = templates.compile_template(str(next(names)), text) if text is not None else None
        compiled_html = templates.compile_template(f"{next(names)}.html", html) if html is not None else None
        headers = tuple((name, templates.compile_template(str(next(names)), value))
                        for name, value in builder_headers(content).items())
        parts = tuple(attachment(item) for item in content.get("attachments", []))
    except templates.TemplateError as err:
        raise Refusal(500, f"Error: {err}") from None
    except ValueError as err:
        raise Refusal(500, f"Error: {err}") from None
    return Compiled(None, compiled_text, compiled_html, headers, parts)


def attachment(item: dict[str, Any]) -> mime.Part:
    data = item["data"].encode()
    if item.get("base64"):
        try:
            data = base64.b64decode(data, validate=True)
        except binascii.Error as err:
            raise ValueError(f"{err}") from None
    return mime.binary_part(item["content_type"], data, item.get("file_name"), item.get("content_id"))


def values_for(recipient: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    values = dict(shared)
    values["email"] = recipient["email"]
    if recipient.get("name") is not None:
        values["name"] = recipient["name"]
    return values | recipient.get("substitutions", {})


def generate(compiled: Compiled, recipient: dict[str, Any], shared: dict[str, Any]) -> str:
    """One recipient's message text (CRLF line ends), before kumod's policy and trace headers."""
    values = values_for(recipient, shared)
    if compiled.body is not None:
        return mime.complete_rfc822(compiled.body.render(values))
    text = compiled.text.render(values) if compiled.text else None
    html = compiled.html.render(values) if compiled.html else None
    to = mime.mailbox(recipient.get("name"), recipient["email"])
    headers = [("To", to)] + [(name, template.render(values)) for name, template in compiled.headers]
    return mime.build(text, html, headers, compiled.attachments)


def spool_id() -> str:
    return uuid.uuid4().hex


def received_header(sender: str, peer: str, hostname: str, spool: str, recipient: str) -> str:
    domain = sender.partition("@")[2]
    stamp = email.utils.format_datetime(datetime.datetime.now(datetime.UTC))
    return (f"Received: from {domain} ({peer})\r\n  by {hostname} (KumoMTA)\r\n  "
            f"with HTTP id {spool} for <{recipient}>;\r\n  {stamp}\r\n")


def inject(request: dict[str, Any], peer: str, hostname: str,
           accept: Callable[[str, str, bytes], None]) -> dict[str, Any]:
    """Generate and hand each recipient's message to `accept(sender, recipient, message)` (the spool)."""
    sender = request["envelope_sender"]
    try:
        check_address(sender)
    except ValueError as err:
        raise Refusal(500, f"Error: envelope_sender: {err}") from None
    compiled = compile_request(request)
    trace, shared = trace_of(request), request.get("substitutions", {})
    failed: list[str] = []
    errors: list[str] = []
    for recipient in request["recipients"]:
        address = recipient["email"]
        try:
            check_address(address)
        except ValueError as err:
            failed.append(address)
            errors.append(f"{address}: recipient email {address}: {err}")
            continue
        try:
            text = generate(compiled, recipient, shared)
        except (templates.TemplateError, ValueError) as err:
            failed.append(address)
            errors.append(f"{address}: {err}")
            continue
        accept(sender, address, finish(text, sender, address, peer, hostname, trace))
    return {"success_count": len(request["recipients"]) - len(failed), "fail_count": len(failed),
            "failed_recipients": failed, "errors": errors}


def finish(text: str, sender: str, recipient: str, peer: str, hostname: str, trace: Trace) -> bytes:
    """What kumod's policy and trace headers add: Date and Message-ID when missing (init.lua's conformance fix),
    a Received header when asked for, and the supplemental header (X-KumoRef) on top."""
    spool = spool_id()
    text = mime.fix_conformance(text, f"{spool}@{sender.partition('@')[2]}")
    if trace.received:
        text = received_header(sender, peer, hostname, spool, recipient) + text
    if trace.supplemental:
        text = f"{trace.header_name}: {mime.kumo_ref(recipient)}\r\n" + text
    return mime.crlf(text).encode()
