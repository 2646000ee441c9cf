"""A profile point's value to and from its wire form: scale inverted, range clamped, wrap points."""

from __future__ import annotations

from typing import Any

from drivers import dlt645, registers
from gateway.point_values import modbus_value, wrap_and_resolution
from gateway.profiles import Dlt645Point, ModbusPoint

# Where a float totaliser wraps when its profile states no `rollover` (gateway.point_values knows
# no wrap for it, but a simulated meter must wrap somewhere): a float32 keeps 7 digits, so a
# 6-digit display maximum (999999.x) is what such meters show; float64 gets the 8-digit maximum.
_FLOAT_WRAP_RAW = {"float32": 1e6, "float64": 1e8}


def enum_raw(enum: dict[str, str], wanted: str) -> int | None:
    """The raw value whose enum name contains `wanted` (case-insensitive), else None."""
    for key, name in enum.items():
        if wanted in name.lower():
            return int(key, 0)
    return None


def modbus_wrap(point: ModbusPoint, decimals: int | None) -> float:
    """The value at which this totaliser point wraps to zero (point_values.wrap_and_resolution;
    a float with no `rollover` at its display maximum)."""
    wrap, _ = wrap_and_resolution(point, decimals)
    if wrap is not None:
        return wrap
    return registers.scaled(_FLOAT_WRAP_RAW.get(point.type, 1e8), point.scale, 0.0, decimals)


def dlt645_wrap(point: Dlt645Point) -> float:
    """Where a DL/T 645 total wraps: `rollover` (its largest value) + one count, else 10^digits."""
    wrap, _ = wrap_and_resolution(point)
    assert wrap is not None  # a DL/T 645 total always has one
    return wrap


def decimals_that_fit(point: ModbusPoint, peak: float) -> int:
    """The most decimals (3..0) with which `peak` still fits the point's integer register type."""
    limits = registers.integer_range(point.type)
    limit = limits[1] if limits is not None else float("inf")
    for decimals in (3, 2, 1, 0):
        if registers.unscaled(peak, point.scale, point.offset, decimals) <= limit:
            return decimals
    return 0


def encode_modbus(point: ModbusPoint, value: Any, decimals: int | None) -> list[int]:
    """Registers carrying `value` (in the point's unit), clamped to what the register type holds."""
    if point.type == "string":
        return registers.encode(str(value), "string", point.order, point.length)
    raw = registers.unscaled(value, point.scale, point.offset, decimals)
    limits = registers.integer_range(point.type)
    if limits is not None:
        raw = min(limits[1], max(limits[0], round(raw)))
    elif point.type == "long_fraction":
        top = float(registers.wrap_raw("long_fraction"))
        raw = min(top - 1, max(-top, raw))
    return registers.encode(raw, point.type, point.order)


def decode_modbus(point: ModbusPoint, words: list[int], decimals: int | None) -> Any:
    """The value a master decodes from these registers: enum name, bits, string or scaled number."""
    raw = registers.decode(words, point.type, point.order)
    return modbus_value(raw, point.type, point.scale, point.offset, decimals, point.enum)[0]


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
