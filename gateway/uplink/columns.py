"""Column primitives of the wire format: unsigned LEB128 varints, zigzag, byte planes, float bits.

  uvarint   LEB128: 7 bits a byte, least significant group first, high bit set on all but the
            last byte (as protobuf). Values 0 .. 2^64-1.
  zigzag    signed -> unsigned: 0, -1, 1, -2, 2 ... -> 0, 1, 2, 3, 4 ... (as protobuf sint64).
  planes    n unsigned values of `width` bytes each, written big-endian and then split by byte:
            all first (most significant) bytes, then all second bytes, ... Values that change
            little leave whole planes of zeros, which zlib then all but removes.
  float key a float64's bits as a signed int that orders like the float (so a small change of a
            time is a small difference of keys): bits as int64 if the sign bit is clear,
            else -(bits & 0x7FFF_FFFF_FFFF_FFFF) - 1.
"""

from __future__ import annotations

import re
import struct
from array import array
from collections.abc import Iterable, Sequence

_MASK63 = (1 << 63) - 1
_PLANE_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}
_VARINT = re.compile(rb"[\x80-\xff]*[\x00-\x7f]")  # one varint: continuation bytes, then the last
_MAX_VARINT_BYTES = 10  # the loop's limit: no continuation past bit 63


class WireError(ValueError):
    """Bytes that are not a well-formed batch; the message says where and what was expected."""


def zigzag(value: int) -> int:
    return value * 2 if value >= 0 else -value * 2 - 1


def unzigzag(value: int) -> int:
    return value >> 1 if not value & 1 else -(value >> 1) - 1


def unzigzags(values: Iterable[int]) -> list[int]:
    """unzigzag() of each value, without a call per value: (v >> 1) ^ -(v & 1) is the same."""
    return [(value >> 1) ^ -(value & 1) for value in values]


def put_uvarint(out: bytearray, value: int) -> None:
    if value < 0:
        raise ValueError(f"uvarint takes a value >= 0; got {value}")
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def uvarints(values: Iterable[int]) -> bytes:
    out = bytearray()
    for value in values:
        while value > 0x7F:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out)


def put_bytes(out: bytearray, data: bytes) -> None:
    """A length-prefixed byte string."""
    put_uvarint(out, len(data))
    out += data


def put_text(out: bytearray, text: str) -> None:
    put_bytes(out, text.encode("utf-8"))


def planes(values: Sequence[int], width: int) -> bytes:
    """`values` (each 0 <= v < 2^(8*width)) as byte planes, most significant plane first."""
    fmt = _PLANE_FORMATS.get(width)
    if fmt is None:
        raise ValueError(f"plane width is 1, 2, 4 or 8 bytes; got {width}")
    packed = struct.pack(f">{len(values)}{fmt}", *values)
    return b"".join(packed[i::width] for i in range(width))


def float_key(value: float) -> int:
    bits = struct.unpack(">q", struct.pack(">d", value))[0]
    return bits if bits >= 0 else -(bits & _MASK63) - 1


def key_float(key: int) -> float:
    bits = key if key >= 0 else (-(key + 1)) | (1 << 63)
    return struct.unpack(">d", struct.pack(">Q", bits & ((1 << 64) - 1)))[0]


def float_keys(values: Sequence[float]) -> list[int]:
    """float_key() of many floats at once."""
    keys = array("q")
    keys.frombytes(array("d", values).tobytes())
    return [key if key >= 0 else -(key & _MASK63) - 1 for key in keys]


def key_floats(keys: Sequence[int]) -> list[float]:
    """key_float() of many keys at once."""
    bits = array("q", [key if key >= 0 else (-(key + 1)) | -(1 << 63) for key in keys])
    floats = array("d")
    floats.frombytes(bits.tobytes())
    return floats.tolist()


class Reader:
    """Reads the primitives back from a buffer, raising WireError at the first malformed one."""

    def __init__(self, data: bytes, what: str = "payload") -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def uvarint(self) -> int:
        data, pos = self.data, self.pos
        result = shift = 0
        while True:
            if pos >= len(data):
                raise WireError(f"{self.what}: a varint runs past the end (byte {pos})")
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 63:
                raise WireError(f"{self.what}: a varint longer than 64 bits at byte {self.pos}")
        self.pos = pos
        return result

    def uvarints(self, count: int | None = None) -> list[int]:
        """`count` varints, or (None) every varint up to the end."""
        data, pos = self.data, self.pos
        at_once = self._uvarints_at_once(count)
        if at_once is not None:
            return at_once
        end = len(data)
        out: list[int] = []
        append = out.append
        remaining = end if count is None else count
        while remaining > 0 and (count is not None or pos < end):
            remaining -= 1
            result = shift = 0
            while True:
                if pos >= end:
                    raise WireError(f"{self.what}: a varint runs past the end (byte {pos})")
                byte = data[pos]
                pos += 1
                if byte < 0x80:
                    result |= byte << shift
                    break
                result |= (byte & 0x7F) << shift
                shift += 7
                if shift > 63:
                    raise WireError(f"{self.what}: a varint longer than 64 bits at byte {pos}")
            append(result)
        self.pos = pos
        return out

    def _uvarints_at_once(self, count: int | None) -> list[int] | None:
        """uvarints() without a loop per byte where that is simple: `count` one-byte varints
        are the bytes themselves; up to the end, the varints are split by a regular expression
        and each distinct one decoded once. None where the loop is needed (and says what is
        wrong)."""
        data, pos = self.data, self.pos
        if count is not None:
            chunk = data[pos:pos + count]
            if len(chunk) != count or (chunk and max(chunk) >= 0x80):
                return None
            self.pos = pos + count
            return list(chunk)
        tokens = _VARINT.findall(data, pos)
        if sum(map(len, tokens)) != len(data) - pos:
            return None  # the last one runs past the end
        values = {}
        for token in set(tokens):
            size = len(token)
            if size == 1:
                values[token] = token[0]
            elif size == 3:  # e.g. a clock's step
                values[token] = (token[0] & 0x7F) | (token[1] & 0x7F) << 7 | token[2] << 14
            elif size <= _MAX_VARINT_BYTES:
                value = 0
                for index, byte in enumerate(token):
                    value |= (byte & 0x7F) << (7 * index)
                values[token] = value
            else:
                return None
        self.pos = len(data)
        return list(map(values.__getitem__, tokens))

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise WireError(f"{self.what}: {size} bytes wanted at byte {self.pos}, only "
                            f"{len(self.data) - self.pos} left")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def bytes_(self) -> bytes:
        return self.take(self.uvarint())

    def text(self) -> str:
        raw = self.bytes_()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise WireError(f"{self.what}: a string that is not UTF-8 before byte "
                            f"{self.pos}") from None

    def planes(self, count: int, width: int) -> list[int]:
        fmt = _PLANE_FORMATS.get(width)
        if fmt is None:
            raise WireError(f"{self.what}: plane width {width}; expected 1, 2, 4 or 8")
        data = self.take(count * width)
        joined = bytearray(count * width)
        for i in range(width):
            joined[i::width] = data[i * count:(i + 1) * count]
        return list(struct.unpack(f">{count}{fmt}", joined))

    def done(self) -> None:
        if self.pos != len(self.data):
            raise WireError(f"{self.what}: {len(self.data) - self.pos} bytes left over after "
                            "the last column")
