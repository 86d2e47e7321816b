"""A websocket client on asyncio streams (RFC 6455), just enough for the API server's streaming subresources: the
opening handshake with a subprotocol, binary messages both ways, ping, close.

It runs on the daemon's event loop like every other forward, so a forwarded connection costs no thread, and a
cancelled one stops at once. (The `websocket-client` library the `kubernetes` package uses is blocking, and its
select()-based callers miss frames it has already buffered.)

    ws = await connect(request)          # request: where and how, from Api.upgrade()
    await ws.send(b"\\x00data")
    message = await ws.receive()         # one whole binary message; None once the server closed
    await ws.close()
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import secrets
import ssl
from dataclasses import dataclass, field

from devstack.errors import DeployError

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_HEADERS_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Request:
    host: str
    port: int
    target: str  # path and query, as sent on the request line
    protocol: str  # the subprotocol asked for: "v4.channel.k8s.io"
    tls: ssl.SSLContext | None = None
    server_hostname: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # authorization, as every other API request has


class Rejected(DeployError):
    """The server answered the upgrade with an error status (`.status`) instead of switching protocols."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class WebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, protocol: str = "") -> None:
        self._reader, self._writer = reader, writer
        self.protocol = protocol  # the subprotocol the server chose
        self._closed = False

    async def receive(self) -> bytes | None:
        """The next data message, whole (fragments joined); None once the server closed or the connection broke.
        Pings are answered on the way."""
        parts: list[bytes] = []
        while not self._closed:
            try:
                final, opcode, payload = await _read_frame(self._reader)
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                self._closed = True
                return None
            if opcode == _PING:
                await self._send_frame(_PONG, payload)
            elif opcode == _CLOSE:
                await self.close()
            elif opcode in (_BINARY, _TEXT, _CONTINUATION):
                parts.append(payload)
                if final:
                    return b"".join(parts)
        return None

    async def send(self, data: bytes) -> None:
        await self._send_frame(_BINARY, data)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(ConnectionError, OSError):
                await self._send_frame(_CLOSE, (1000).to_bytes(2, "big"), force=True)
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError, ssl.SSLError):
            await self._writer.wait_closed()

    async def _send_frame(self, opcode: int, payload: bytes, *, force: bool = False) -> None:
        if self._closed and not force:
            raise ConnectionResetError("the websocket is closed")
        self._writer.write(frame(opcode, payload, mask_key()))
        await self._writer.drain()


async def connect(request: Request) -> WebSocket:
    """Open the connection and upgrade it; DeployError with the server's own words when it refuses."""
    try:
        reader, writer = await asyncio.open_connection(request.host, request.port, ssl=request.tls,
                                                       server_hostname=request.server_hostname if request.tls
                                                       else None, limit=_HEADERS_LIMIT)
    except (OSError, ssl.SSLError) as err:
        raise DeployError(f"cannot reach {request.host}:{request.port}: {err}") from None
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {request.target} HTTP/1.1", f"Host: {request.host}:{request.port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
             f"Sec-WebSocket-Protocol: {request.protocol}",
             *(f"{name}: {value}" for name, value in request.headers.items())]
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        status, headers = await _read_head(reader)
        if status != 101:
            body = await _read_body(reader, headers)
            raise Rejected(status, f"the API server refused the stream: {status} {body}")
        if headers.get("sec-websocket-accept") != accept_key(key):
            raise DeployError("the API server's websocket handshake did not match (Sec-WebSocket-Accept)")
    except BaseException:
        writer.close()
        raise
    return WebSocket(reader, writer, headers.get("sec-websocket-protocol", ""))


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()  # SHA-1: the RFC says so


def mask_key() -> bytes:
    """A fresh random masking key whose four bytes are equal. RFC 6455 masks client frames so that a transparent
    proxy cannot be fed bytes of the page's choosing; any of the 2^32 keys is valid, and a server cannot tell one
    kind from the other. With four equal bytes the key is one of 256, still chosen at random per frame (a proxy
    sees no plain bytes through the API server's TLS anyway), and masking is one pass of bytes.translate: a
    sixth of the CPU of the general case, which on bulk data costs more than the TLS itself."""
    return bytes(4 * (secrets.randbits(8),))


def frame(opcode: int, payload: bytes, mask: bytes) -> bytes:
    """One final, masked frame (a client masks every frame it sends)."""
    size = len(payload)
    if size < 126:
        length = bytes((0x80 | size,))
    elif size < 1 << 16:
        length = bytes((0x80 | 126,)) + size.to_bytes(2, "big")
    else:
        length = bytes((0x80 | 127,)) + size.to_bytes(8, "big")
    return bytes((0x80 | opcode,)) + length + mask + _xor(payload, mask)


async def _read_frame(reader: asyncio.StreamReader) -> tuple[bool, int, bytes]:
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        size = int.from_bytes(await reader.readexactly(2), "big")
    elif size == 127:
        size = int.from_bytes(await reader.readexactly(8), "big")
    mask = await reader.readexactly(4) if second & 0x80 else b""
    payload = await reader.readexactly(size)
    return bool(first & 0x80), first & 0x0F, _xor(payload, mask) if mask else payload


_XOR = [bytes(value ^ key for value in range(256)) for key in range(256)]  # byte → byte XOR key, per key


def _xor(data: bytes, mask: bytes) -> bytes:
    """`data` XOR the repeated 4-byte `mask`: one C pass when the mask's bytes are equal (mask_key's), else four
    (one per byte of the key, over every fourth byte) instead of a Python loop over every byte."""
    if mask == bytes(4 * (mask[0],)):
        return data.translate(_XOR[mask[0]])
    out = bytearray(len(data))
    for i in range(4):
        out[i::4] = data[i::4].translate(_XOR[mask[i]])
    return bytes(out)


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError) as err:
        raise DeployError(f"the API server closed the stream before answering ({type(err).__name__})") from None
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise DeployError(f"the API server answered the stream with {status_line[:80]!r}")
    headers = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> str:
    length = headers.get("content-length", "")
    try:
        body = await asyncio.wait_for(reader.readexactly(int(length)) if length.isdigit() else reader.read(4096), 5)
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, OSError):
        return ""
    return status_message(body)


def status_message(body: bytes) -> str:
    """What an error response of the API server says: its Status's message, else the start of the body."""
    try:
        status = json.loads(body)
    except ValueError:
        return bytes(body[:200]).decode("utf-8", "replace").strip()
    return str(status.get("message", "")) if isinstance(status, dict) else ""
