"""Protocol Buffers' wire format, read without a schema: just enough to take the fields devstack needs out of a
message another program sends (BuildKit's build progress). A message is a sequence of (field number, value):
varints are ints, length-delimited fields are bytes (a string, a nested message or packed numbers: the reader
knows which), fixed 32/64-bit fields are ints too.

    for number, value in fields(data): ...
    first(data, 3) → the last value of field 3 (protobuf's rule for a repeated scalar read as one), or None
"""

from __future__ import annotations

from collections.abc import Iterator

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """Not a protobuf message: truncated, or a wire type this reader does not know (groups are long gone)."""


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    position, end = 0, len(data)
    while position < end:
        key, position = varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, position = varint(data, position)
            yield number, value
        elif wire == _BYTES:
            size, position = varint(data, position)
            if position + size > end:
                raise WireError("a length-delimited field runs past the message's end")
            yield number, data[position:position + size]
            position += size
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            if position + width > end:
                raise WireError("a fixed-width field runs past the message's end")
            yield number, int.from_bytes(data[position:position + width], "little")
            position += width
        else:
            raise WireError(f"wire type {wire} of field {number} is not supported")


def varint(data: bytes, position: int) -> tuple[int, int]:
    """The base-128 integer at `position` and the position after it."""
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise WireError("a varint runs past the message's end")
        byte = data[position]
        value |= (byte & 0x7F) << shift
        position += 1
        if not byte & 0x80:
            return value, position
        shift += 7


def first(data: bytes, number: int) -> int | bytes | None:
    """Field `number`'s value (the last one, when it repeats), or None when absent."""
    found = None
    for field, value in fields(data):
        if field == number:
            found = value
    return found


def text(data: bytes, number: int) -> str:
    value = first(data, number)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""
