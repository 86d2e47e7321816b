"""The server side of RFC 6455 websockets, as much as the Kubernetes channel protocols need: the handshake (with
subprotocol choice), reading masked client frames, writing unmasked binary frames, close frames."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import select
import socket
import struct
from dataclasses import dataclass

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()


def handshake(headers: dict[str, str], supported: tuple[str, ...]) -> tuple[bytes, str] | None:
    """The 101 response and the chosen subprotocol, or None when the client offers none we speak."""
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    chosen = next((p for p in supported if p in offered), None)
    if chosen is None or "sec-websocket-key" not in headers:
        return None
    response = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_key(headers['sec-websocket-key'])}\r\n"
                f"Sec-WebSocket-Protocol: {chosen}\r\n\r\n")
    return response.encode(), chosen


@dataclass
class Frame:
    opcode: int
    payload: bytes


class Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""
        self.closed = False

    def send(self, payload: bytes, opcode: int = OP_BINARY) -> None:
        header = bytes([0x80 | opcode])
        size = len(payload)
        if size < 126:
            header += bytes([size])
        elif size < 1 << 16:
            header += bytes([126]) + struct.pack("!H", size)
        else:
            header += bytes([127]) + struct.pack("!Q", size)
        self.sock.sendall(header + payload)

    def close(self, code: int = 1000) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.send(struct.pack("!H", code), OP_CLOSE)

    def readable(self, timeout_s: float) -> bool:
        if self._buffer:
            return True
        ready, _, _ = select.select([self.sock], [], [], timeout_s)
        return bool(ready)

    def receive(self) -> Frame | None:
        """The next data frame (fragments joined); None when the client closed."""
        parts: list[bytes] = []
        first_opcode = OP_BINARY
        while True:
            head = self._read(2)
            if head is None:
                return None
            fin, opcode = head[0] & 0x80, head[0] & 0x0F
            size = head[1] & 0x7F
            if size == 126:
                raw = self._read(2)
                size = struct.unpack("!H", raw)[0] if raw else 0
            elif size == 127:
                raw = self._read(8)
                size = struct.unpack("!Q", raw)[0] if raw else 0
            mask = self._read(4) if head[1] & 0x80 else b"\0\0\0\0"
            data = self._read(size) if size else b""
            if mask is None or data is None:
                return None
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == OP_CLOSE:
                self.close()
                return None
            if opcode in (OP_PING, OP_PONG):
                continue
            if opcode != OP_CONTINUATION:
                first_opcode = opcode
            parts.append(payload)
            if fin:
                return Frame(first_opcode, b"".join(parts))

    def _read(self, size: int) -> bytes | None:
        while len(self._buffer) < size:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return None
            if not chunk:
                return None
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data
