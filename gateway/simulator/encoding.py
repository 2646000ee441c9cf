"""A profile point's value to and from its wire form: scale inverted, range clamped, wrap points."""

from __future__ import annotations

from typing import Any

from drivers import dlt645, registers
from gateway.profiles import Dlt645Point, ModbusPoint

# Raw ranges of the integer register types (inclusive).
_INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "u16": (0, 0xFFFF),
    "i16": (-0x8000, 0x7FFF),
    "u32": (0, 0xFFFF_FFFF),
    "i32": (-0x8000_0000, 0x7FFF_FFFF),
    "u64": (0, 2**64 - 1),
    "i64": (-(2**63), 2**63 - 1),
    "bcd16": (0, 9999),
    "bcd32": (0, 99_999_999),
    "bits16": (0, 0xFFFF),
    "bits32": (0, 0xFFFF_FFFF),
}
# Where a float totaliser wraps when its profile states no `rollover`: a float32 keeps 7 digits, so
# a 6-digit display maximum (999999.x) is what such meters show; float64 gets the 8-digit maximum.
_FLOAT_WRAP_RAW = {"float32": 1e6, "float64": 1e8}
_LONG_FRACTION_WRAP_RAW = 2**31  # the i32 accumulator part


def enum_raw(enum: dict[str, str], wanted: str) -> int | None:
    """The raw value whose enum name contains `wanted` (case-insensitive), else None."""
    for key, name in enum.items():
        if wanted in name.lower():
            return int(key, 0)
    return None


def modbus_wrap(point: ModbusPoint, decimals: int | None) -> float:
    """The value at which this totaliser point wraps to zero.

    An integer counter wraps at its largest raw value + 1 (register width, or the profile's
    `rollover` = the largest value it shows, plus one count); a float wraps at `rollover` itself.
    """
    if point.type in _INTEGER_RANGES or point.type == "long_fraction":
        one_count = registers.scaled(1, point.scale, 0.0, decimals)
        if point.rollover:
            return point.rollover + (one_count if point.type != "long_fraction" else 0.0)
        top = (
            _LONG_FRACTION_WRAP_RAW
            if point.type == "long_fraction"
            else _INTEGER_RANGES[point.type][1] + 1
        )
        return registers.scaled(top, point.scale, 0.0, decimals)
    if point.rollover:
        return point.rollover
    return registers.scaled(_FLOAT_WRAP_RAW.get(point.type, 1e8), point.scale, 0.0, decimals)


def dlt645_wrap(point: Dlt645Point) -> float:
    """Where a DL/T 645 total wraps: `rollover` (its largest value) + one count, else 10^digits."""
    if point.rollover:
        return point.rollover + 10.0 ** (-point.decimals)
    return 10.0 ** (2 * point.length - point.decimals)


def decimals_that_fit(point: ModbusPoint, peak: float) -> int:
    """The most decimals (3..0) with which `peak` still fits the point's integer register type."""
    limit = _INTEGER_RANGES.get(point.type, (0, float("inf")))[1]
    for decimals in (3, 2, 1, 0):
        if registers.unscaled(peak, point.scale, point.offset, decimals) <= limit:
            return decimals
    return 0


def encode_modbus(point: ModbusPoint, value: Any, decimals: int | None) -> list[int]:
    """Registers carrying `value` (in the point's unit), clamped to what the register type holds."""
    if point.type == "string":
        return registers.encode(str(value), "string", point.order, point.length)
    raw = registers.unscaled(value, point.scale, point.offset, decimals)
    if point.type in _INTEGER_RANGES:
        low, high = _INTEGER_RANGES[point.type]
        raw = min(high, max(low, round(raw)))
    elif point.type == "long_fraction":
        raw = min(float(_LONG_FRACTION_WRAP_RAW - 1), max(-float(_LONG_FRACTION_WRAP_RAW), raw))
    return registers.encode(raw, point.type, point.order)


def decode_modbus(point: ModbusPoint, words: list[int], decimals: int | None) -> Any:
    """The value a master decodes from these registers: enum name, bits, string or scaled number."""
    raw = registers.decode(words, point.type, point.order)
    if point.type == "string" or point.type.startswith("bits"):
        return raw
    if point.enum:
        for key, name in point.enum.items():
            if int(key, 0) == raw:
                return name
        return raw
    if point.scale == 1.0 and point.offset == 0.0 and decimals is None:
        return raw  # as read: an int stays an int
    return registers.scaled(raw, point.scale, point.offset, decimals)


def encode_dlt645(point: Dlt645Point, value: float) -> bytes:
    """BCD value bytes (low byte first), clamped to the digits the point has."""
    top = 10.0 ** (2 * point.length - point.decimals) - 10.0 ** (-point.decimals)
    if point.signed:
        top = 8 * 10.0 ** (2 * point.length - 1 - point.decimals) - 10.0 ** (-point.decimals)
    clamped = min(top, max(-top if point.signed else 0.0, value))
    return dlt645.encode_bcd(clamped, point.length, point.decimals, point.signed)


def decode_dlt645(point: Dlt645Point, data: bytes) -> float:
    """The value a master decodes from the value bytes."""
    return dlt645.decode_bcd(data, point.decimals, point.signed)
