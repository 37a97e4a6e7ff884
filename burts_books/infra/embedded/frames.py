"""The framing shared by journal and snapshot: each record is `length, crc32, payload`.

The checksum tells a record that reached the disk whole from one cut short
by a crash or damaged since.
"""

from __future__ import annotations

import struct
import zlib

HEADER = struct.Struct("<II")  # payload length, CRC-32 of the payload


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def read_frames(data: bytes) -> tuple[list[bytes], int]:
    """The payloads of the whole, intact frames at the start of `data`, and the offset where they end.

    Reading stops at the first frame that is cut short or fails its checksum;
    the caller decides whether what follows is a torn tail or damage.
    """
    payloads = []
    offset = 0
    view = memoryview(data)
    while offset + HEADER.size <= len(data):
        length, crc = HEADER.unpack_from(data, offset)
        start = offset + HEADER.size
        payload = view[start:start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        payloads.append(payload.tobytes())
        offset = start + length
    return payloads, offset
