"""SPDY/3 frames as devstack writes and reads them for port forwards (providers/kubernetes/spdy.py): the layout of
the specification, read back by the reader from pieces of any size, and header blocks that zlib decompresses
into the name/value pairs the kubelet looks up. The kubelet's side is met on the real cluster
(tests/realkube/test_forwards_on_cluster.py)."""

from __future__ import annotations

import struct
import zlib

from devstack.providers.kubernetes import spdy


def header_pairs(block: bytes, decompressor: zlib._Decompress) -> dict[str, str]:
    raw = decompressor.decompress(block)
    (count,), position, pairs = struct.unpack_from(">I", raw), 4, {}
    for _ in range(count):
        (size,) = struct.unpack_from(">I", raw, position)
        name = raw[position + 4:position + 4 + size].decode()
        position += 4 + size
        (size,) = struct.unpack_from(">I", raw, position)
        pairs[name] = raw[position + 4:position + 4 + size].decode()
        position += 4 + size
    assert position == len(raw)
    return pairs


def test_syn_streams_share_one_compression_context_and_name_headers_in_lower_case() -> None:
    compressor, decompressor = spdy.Compressor(), zlib.decompressobj()
    first = spdy.syn_stream(1, {"streamType": "error", "port": "2525", "requestID": "0"}, compressor)
    second = spdy.syn_stream(3, {"streamType": "data", "port": "2525", "requestID": "0"}, compressor)
    frames = spdy.Reader().feed(first + second)
    assert [(f.control, f.kind, f.stream, f.flags) for f in frames] == [(True, spdy.SYN_STREAM, 1, 0),
                                                                        (True, spdy.SYN_STREAM, 3, 0)]
    assert first[:4] == bytes((0x80, spdy.VERSION, 0, spdy.SYN_STREAM))
    # stream id, associated stream 0, priority and slot 0, then the compressed block
    assert frames[0].payload[:10] == struct.pack(">IIBB", 1, 0, 0, 0)
    assert header_pairs(frames[0].payload[10:], decompressor) == {"streamtype": "error", "port": "2525",
                                                                  "requestid": "0"}
    assert header_pairs(frames[1].payload[10:], decompressor)["streamtype"] == "data"


def test_data_frames_carry_fin_and_split_at_the_size_limit() -> None:
    payload = bytes(range(256)) * 1024 + b"end"  # 256 KiB and 3 bytes
    frames = spdy.Reader().feed(spdy.data(7, payload, fin=True))
    assert all(not f.control and f.stream == 7 for f in frames)
    assert b"".join(f.payload for f in frames) == payload
    assert max(len(f.payload) for f in frames) <= spdy.MAX_DATA
    assert [f.fin for f in frames] == [False] * (len(frames) - 1) + [True]
    (empty,) = spdy.Reader().feed(spdy.data(1, b"", fin=True))
    assert empty.fin and empty.payload == b""


def test_the_reader_takes_bytes_in_pieces_of_any_size() -> None:
    stream = spdy.data(3, b"hello") + spdy.rst_stream(5) + spdy.ping(2) + spdy.data(3, b"", fin=True)
    reader, frames = spdy.Reader(), []
    for i in range(len(stream)):  # one byte at a time: the worst a websocket can do
        frames += reader.feed(stream[i:i + 1])
    assert [(f.control, f.kind, f.stream) for f in frames] == [(False, 0, 3), (True, spdy.RST_STREAM, 5),
                                                              (True, spdy.PING, 2), (False, 0, 3)]
    assert frames[0].payload == b"hello" and frames[1].status == spdy.CANCEL and frames[3].fin
