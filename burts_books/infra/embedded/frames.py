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

    Reading stops at the first frame that is cut short, fails its checksum or is
    empty: no record is, but zeros read as one (the CRC-32 of nothing is 0), and
    zeros are what a crash leaves where the file grew but its data never landed.
    The caller decides whether what follows is a torn tail or damage.
    """
    payloads = []
    offset = 0
    view = memoryview(data)
    while offset + HEADER.size <= len(data):
        length, crc = HEADER.unpack_from(data, offset)
        start = offset + HEADER.size
        payload = view[start:start + length]
        if length == 0 or len(payload) < length or zlib.crc32(payload) != crc:
            break
        payloads.append(payload.tobytes())
        offset = start + length
    return payloads, offset


def frame_follows(data: bytes, offset: int) -> bool:
    """Whether an intact frame starts anywhere in `data` after `offset`.

    Every byte is tried, not only where the frame at `offset` says the next one
    starts: its length may be what was damaged. Payloads are BSON documents,
    which begin with their own length, so a frame's length is written twice:
    comparing the two rules out almost every byte before any checksum.
    """
    view = memoryview(data)
    for start in range(offset + 1, len(data) - HEADER.size):
        length, crc = HEADER.unpack_from(data, start)
        begin = start + HEADER.size
        end = begin + length
        if (data[start:start + 4] == data[begin:begin + 4] and length > 0 and end <= len(data)
                and zlib.crc32(view[begin:end]) == crc):
            return True
    return False
