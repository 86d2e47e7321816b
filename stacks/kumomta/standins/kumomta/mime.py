"""Messages laid out as kumod's MessageBuilder (its mailparsing crate) lays them out, for the kumod stand-in:

    the content part's own headers (Content-Type, Content-Transfer-Encoding when the text needs one),
    then To, then the request's headers sorted by name (From, Reply-To, Subject among them), then
    Mime-Version and Date; text and html together are multipart/alternative, inline attachments add a
    multipart/related level, other attachments a multipart/mixed one; text is quoted-printable when it must be
    encoded, or base64 when that is shorter; attachments are base64.

and the headers kumod adds: Message-ID (init.lua's conformance fix, after the others) and X-KumoRef.
"""

from __future__ import annotations

import base64
import datetime
import email.header
import email.utils
import json
import quopri
import re
import uuid
from dataclasses import dataclass

CRLF = "\r\n"
LINE_END = re.compile(r"\r\n|\r|\n")
SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


@dataclass(frozen=True)
class Part:
    headers: tuple[tuple[str, str], ...]
    body: str  # encoded, CRLF line ends, ending in CRLF
    parts: tuple[Part, ...] = ()
    boundary: str = ""

    def render(self) -> str:
        head = "".join(f"{name}: {value}{CRLF}" for name, value in self.headers)
        if not self.parts:
            return head + CRLF + self.body
        inner = "".join(f"--{self.boundary}{CRLF}{part.render()}" for part in self.parts)
        return head + CRLF + inner + f"--{self.boundary}--{CRLF}"


def crlf(text: str) -> str:
    return LINE_END.sub(CRLF, text)


def parameters(value: str, **params: str) -> str:
    """A MIME header value with parameters, folded as mailparsing folds it."""
    return value + "".join(f';{CRLF}\t{name}="{param}"' for name, param in params.items())


def text_part(subtype: str, content: str) -> Part:
    raw = content.encode()
    qp = quopri.encodestring(crlf(content).encode()).decode()
    headers = [("Content-Type", parameters(f"text/{subtype}", charset="us-ascii" if content.isascii() else "utf-8"))]
    if qp == crlf(content) and content.isascii():
        body = qp
    elif len(qp) <= len(base64.encodebytes(raw)):
        body = qp
        headers.append(("Content-Transfer-Encoding", "quoted-printable"))
    else:
        body = base64.encodebytes(raw).decode()
        headers.append(("Content-Transfer-Encoding", "base64"))
    body = crlf(body)
    return Part(tuple(headers), body if body.endswith(CRLF) else body + CRLF)


def binary_part(content_type: str, data: bytes, file_name: str | None, content_id: str | None) -> Part:
    headers = [("Content-Type", content_type), ("Content-Transfer-Encoding", "base64")]
    disposition = "inline" if content_id is not None else "attachment"
    headers.append(("Content-Disposition", parameters(disposition, filename=file_name) if file_name else disposition))
    if content_id is not None:
        headers.append(("Content-ID", f"<{content_id}>"))
    return Part(tuple(headers), crlf(base64.encodebytes(data).decode()) or CRLF)


def multipart(subtype: str, parts: list[Part]) -> Part:
    boundary = base64.b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    return Part((("Content-Type", parameters(f"multipart/{subtype}", boundary=boundary)),), "", tuple(parts), boundary)


def build(text: str | None, html: str | None, headers: list[tuple[str, str]], attachments: tuple[Part, ...]) -> str:
    parts = [text_part(kind, body) for kind, body in (("plain", text), ("html", html)) if body is not None]
    node = parts[0] if len(parts) == 1 else multipart("alternative", parts)
    inline = [part for part in attachments if dict(part.headers)["Content-Disposition"].startswith("inline")]
    attached = [part for part in attachments if part not in inline]
    if inline:
        node = multipart("related", [node, *inline])
    if attached:
        node = multipart("mixed", [node, *attached])
    encoded = [(name, header_value(value)) for name, value in headers]
    stamp = email.utils.format_datetime(datetime.datetime.now(datetime.UTC))
    root = Part((*node.headers, *encoded, ("Mime-Version", "1.0"), ("Date", stamp)), node.body, node.parts,
                node.boundary)
    return root.render()


def header_value(value: str) -> str:
    """An unstructured header value: as it is when ASCII, else RFC 2047 encoded words."""
    if value.isascii():
        return value
    return email.header.Header(value, "utf-8").encode()


def mailbox(name: str | None, address: str) -> str:
    if name is None:
        return f"<{address}>"  # as kumod writes a mailbox whose name is null (recorded: inject.json null-name)
    if not name:
        return address
    if name.isascii():
        shown = f'"{name}"' if SPECIALS.search(name) else name
    else:
        shown = email.header.Header(name, "utf-8").encode()
    return f"{shown} <{address}>"


def head_and_body(text: str) -> tuple[str, str]:
    text = crlf(text)
    head, separator, body = text.partition(CRLF + CRLF)
    if not separator:
        return text if text.endswith(CRLF) else text + CRLF, ""
    return head + CRLF, body


def header_names(head: str) -> set[str]:
    return {line.partition(":")[0].strip().lower() for line in head.split(CRLF) if line and line[0] not in " \t"}


def complete_rfc822(text: str) -> str:
    """RFC 822 content as kumod keeps it: a Content-Type (text/plain, us-ascii) on top when it has none, and a
    Mime-Version header added when missing."""
    head, body = head_and_body(text)
    if "content-type" not in header_names(head):
        head = f"Content-Type: {parameters('text/plain', charset='us-ascii')}{CRLF}" + head
    if "mime-version" not in header_names(head):
        head += f"Mime-Version: 1.0{CRLF}"
    return head + CRLF + body


def fix_conformance(text: str, message_id: str) -> str:
    """init.lua's check_fix_conformance: Date, Mime-Version and Message-ID appended when missing."""
    head, body = head_and_body(text)
    names = header_names(head)
    if "date" not in names:
        head += f"Date: {email.utils.format_datetime(datetime.datetime.now(datetime.UTC))}{CRLF}"
    if "mime-version" not in names:
        head += f"Mime-Version: 1.0{CRLF}"
    if "message-id" not in names:
        head += f"Message-ID: <{message_id}>{CRLF}"
    return head + CRLF + body


def kumo_ref(recipient: str) -> str:
    """kumod's supplemental trace header: base64 of {"_@_":"\\_/","recipient":...} (serde_json's compact form)."""
    payload = json.dumps({"_@_": "\\_/", "recipient": recipient}, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(payload.encode()).decode()
