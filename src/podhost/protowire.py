"""The protobuf wire format, without schemas: varints and (number, wire type, value) fields.

Shared by the API server's protobuf bodies (apiserver/protobuf.py) and the node's gRPC health
probe (node/grpcprobe.py), so that neither depends on the other.
"""

from __future__ import annotations

from typing import Any


class DecodeError(ValueError):
    pass


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at data[pos:] and the position after it."""
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise DecodeError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) for each field; length-delimited values as bytes."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        value: int | bytes
        key, pos = decode_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = decode_varint(data, pos)
        elif wire == 2:
            length, pos = decode_varint(data, pos)
            if pos + length > len(data):
                raise DecodeError("truncated field")
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise DecodeError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def encode_field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload
