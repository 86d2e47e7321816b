"""SPDY/3 frames, as much of them as a port-forward needs (what `kubectl port-forward` speaks to the kubelet, since
Kubernetes 1.30 tunnelled through a websocket to the API server: tunnel.py).

    control frame: 1 | version 3 (15 bits) | type (16) | flags (8) | length (24) | payload
    data frame:    0 | stream id (31 bits)            | flags (8) | length (24) | payload

The client opens streams (odd ids, rising) with SYN_STREAM, whose name/value header block is zlib-compressed with
one compression context for the whole connection. devstack compresses its own blocks without SPDY's preset
dictionary (a zlib stream that names none is valid, and the kubelet's reader takes it) and never reads the
server's header blocks: a port-forward's SYN_REPLY carries nothing it needs. Flow control (WINDOW_UPDATE) is not
enforced by the kubelet's SPDY library, so none is kept here.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
CANCEL = 5  # RST_STREAM status: the sender no longer wants the stream
MAX_DATA = 64 * 1024  # per data frame sent (the format allows 16 MiB)
_HEAD = struct.Struct(">II")


@dataclass(frozen=True)
class Frame:
    control: bool
    kind: int  # the control frame's type; 0 for data
    stream: int  # the stream a data, SYN_REPLY or RST_STREAM frame is about; a PING's id
    flags: int
    payload: bytes

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)

    @property
    def status(self) -> int:
        """A RST_STREAM's status code."""
        return int.from_bytes(self.payload[4:8], "big") if len(self.payload) >= 8 else 0


class Compressor:
    """The connection's one header compression context (each block ends in a sync flush)."""

    def __init__(self) -> None:
        self._zlib = zlib.compressobj()

    def block(self, headers: Mapping[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers)) + b"".join(
            _string(name.lower()) + _string(value) for name, value in headers.items())
        return self._zlib.compress(raw) + self._zlib.flush(zlib.Z_SYNC_FLUSH)


def syn_stream(stream: int, headers: Mapping[str, str], compressor: Compressor) -> bytes:
    return control(SYN_STREAM, 0, struct.pack(">IIBB", stream, 0, 0, 0) + compressor.block(headers))


def data(stream: int, payload: bytes, fin: bool = False) -> bytes:
    """One data frame, or several when `payload` is longer than MAX_DATA (FIN on the last one)."""
    if len(payload) <= MAX_DATA:
        return _HEAD.pack(stream, (FLAG_FIN if fin else 0) << 24 | len(payload)) + payload
    pieces = [payload[i:i + MAX_DATA] for i in range(0, len(payload), MAX_DATA)]
    return b"".join(data(stream, piece, fin and i == len(pieces) - 1) for i, piece in enumerate(pieces))


def rst_stream(stream: int, status: int = CANCEL) -> bytes:
    return control(RST_STREAM, 0, struct.pack(">II", stream, status))


def ping(ping_id: int) -> bytes:
    return control(PING, 0, struct.pack(">I", ping_id))


def control(kind: int, flags: int, payload: bytes) -> bytes:
    return _HEAD.pack(0x80000000 | VERSION << 16 | kind, flags << 24 | len(payload)) + payload


class Reader:
    """Frames out of a byte stream that arrives in pieces of any size (websocket messages carry no frame
    boundaries: the other side writes a frame's fields one by one)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[Frame]:
        self._buffer += chunk
        frames = []
        while len(self._buffer) >= 8:
            first, second = _HEAD.unpack_from(self._buffer)
            size = second & 0xFFFFFF
            if len(self._buffer) < 8 + size:
                break
            payload = bytes(self._buffer[8:8 + size])
            del self._buffer[:8 + size]
            frames.append(_frame(first, second >> 24, payload))
        return frames


def _frame(first: int, flags: int, payload: bytes) -> Frame:
    if not first & 0x80000000:
        return Frame(False, 0, first & 0x7FFFFFFF, flags, payload)
    kind = first & 0xFFFF
    # SYN_REPLY, RST_STREAM, HEADERS and WINDOW_UPDATE start with a stream id; PING with its id.
    about = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF if len(payload) >= 4 else 0
    return Frame(True, kind, about, flags, payload)


def _string(text: str) -> bytes:
    encoded = text.encode()
    return struct.pack(">I", len(encoded)) + encoded
