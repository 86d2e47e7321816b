"""A minimal HTTP/1.1 server on asyncio streams (the image has no aiohttp).

One request per connection, answered with Connection: close. Bodies need Content-Length (no chunked
encoding). Anything malformed gets a 4xx and the connection is closed; nothing a client sends can
stop the server: every connection runs in its own guarded task.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

log = logging.getLogger(__name__)
MAX_LINE = 8 * 1024
MAX_HEADERS = 100
MAX_BODY = 1024 * 1024
READ_TIMEOUT = 10.0


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self) -> bytes:
        phrase = HTTPStatus(self.status).phrase
        lines = [f"HTTP/1.1 {self.status} {phrase}", f"Content-Type: {self.content_type}"]
        lines += [f"Content-Length: {len(self.body)}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


Handler = Callable[[Request], Awaitable[Response]]


def json_response(document: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(document, indent=1).encode() + b"\n")


def error_response(error: HttpError) -> Response:
    return Response(error.status, json.dumps({"error": error.message}).encode() + b"\n", headers=error.headers)


async def _read_line(reader: asyncio.StreamReader) -> str:
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise HttpError(431, f"a request line or header is over {MAX_LINE} bytes") from None
    return line.decode("latin-1").rstrip("\r\n")


async def read_request(reader: asyncio.StreamReader) -> Request:
    parts = (await _read_line(reader)).split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "expected a request line like: GET /stats HTTP/1.1")
    method, target, _ = parts
    headers: dict[str, str] = {}
    while line := await _read_line(reader):
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or len(headers) >= MAX_HEADERS:
            raise HttpError(400, f"expected at most {MAX_HEADERS} headers like Name: value, got {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    path, _, query = target.partition("?")
    return Request(method.upper(), path, query, headers, await _read_body(reader, headers))


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "transfer-encoding" in headers:
        raise HttpError(411, "chunked bodies are not supported: send Content-Length")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise HttpError(400, f"expected a number in Content-Length, got {length_text!r}")
    if int(length_text) > MAX_BODY:
        raise HttpError(413, f"bodies are limited to {MAX_BODY} bytes")
    return await reader.readexactly(int(length_text))


async def _respond(reader: asyncio.StreamReader, handler: Handler) -> Response | None:
    try:
        request = await asyncio.wait_for(read_request(reader), READ_TIMEOUT)
    except HttpError as error:
        return error_response(error)
    except (asyncio.IncompleteReadError, TimeoutError):
        return None  # the client went away or stalled: nobody to answer
    try:
        return await handler(request)
    except HttpError as error:
        return error_response(error)
    except Exception:
        log.exception("HTTP %s %s failed", request.method, request.path)  # our bug: say so, keep serving
        return error_response(HttpError(500, "internal error, see the sink's log"))


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler) -> None:
    try:
        response = await _respond(reader, handler)
        if response is not None:
            writer.write(response.encode())
            await writer.drain()
    except ConnectionError:
        pass  # the client left before the answer: nothing to do
    finally:
        writer.close()


async def serve(host: str, port: int, handler: Handler) -> asyncio.Server:
    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_connection(reader, writer, handler)

    return await asyncio.start_server(connected, host, port, limit=MAX_LINE, reuse_address=True)
