"""Value recipes: how a reading's value follows from its raw registers or bytes, for the wire.

A reading's value is a function of its raw (the profile's decoding), so the wire format sends
raw and, per channel, the recipe; the receiver recomputes the value. The sender checks every
record (same type, same float bits) and sends the value itself wherever the recipe does not give
it exactly, so a recipe can only ever cost bytes, never change a record.

Recipes are given on the wire as JSON arrays (wire format v1, docs/wire-format.md):
  ["modbus", type, order, scale, offset, decimals, enum]
      v = drivers.registers.decode(raw, type, order); then gateway.point_values.modbus_value, as
      acquisition decodes it: a str stays; with an enum (object raw -> name) the name, or int(v)
      if unnamed; a bits16/32 type int(v); a non-finite float None; scale 1, offset 0 and
      decimals null: v itself; otherwise drivers.registers.scaled(v, scale, offset, decimals).
  ["dlt645", decimals, signed]
      v = drivers.dlt645.decode_bcd(bytes(raw), decimals, signed)
and the result then as the store keeps it (gateway/store/records.py normal_value: bool -> int,
NaN/inf -> None), except a value through an enum, which is given as it is.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from operator import add, mul, truediv
from typing import Any

from drivers import dlt645, registers
from gateway.config import GatewayConfig
from gateway.point_values import modbus_value
from gateway.profiles import Dlt645Point, ModbusPoint
from gateway.store.records import normal_value
from gateway.uplink.columns import WireError

MODBUS = "modbus"
NUMBER_TYPES = frozenset({"u16", "i16", "u32", "i32", "u64", "i64", "float32", "float64"})
INT64 = (-(2**63), 2**63 - 1)  # normal_value keeps ints in this range as ints
DLT645 = "dlt645"
DECIMALS_TRIED = range(0, 10)  # a decimals_from register holds 0..9 (decode.py checks it)


@dataclass(frozen=True)
class Recipe:
    """One channel's value-from-raw function (see the module docstring)."""

    protocol: str
    type: str = ""
    order: str = "ABCD"
    scale: float = 1.0
    offset: float = 0.0
    decimals: int | None = None
    enum: tuple[tuple[str, str], ...] = ()
    signed: bool = False
    decimals_from: str | None = None  # sender side only: decimals found per batch from values

    def value(self, raw: list[int]) -> Any:
        """The value this recipe gives for `raw`; raises ValueError (or another error) if none."""
        if self.protocol == DLT645:
            return normal_value(dlt645.decode_bcd(bytes(raw), self.decimals, self.signed))
        value, _ = modbus_value(self._decode(raw), self.type, self.scale, self.offset,
                                self.decimals, self._enum)
        # An enum's name, or its unnamed raw int (even beyond 64 bits), is given as it is.
        return value if self.enum else normal_value(value)

    def values(self, raws: Sequence[Sequence[int]]) -> list[Any]:
        """value() of each raw, computed over all of them at once where the recipe is a plain
        number type (the same arithmetic, in the same order, so the same bits); raises as
        value() does for the first raw that has none."""
        at_once = self._values_at_once(raws) if raws else []
        return at_once if at_once is not None else [self.value(list(raw)) for raw in raws]

    def _values_at_once(self, raws: Sequence[Sequence[int]]) -> list[Any] | None:
        """values() for a Modbus number type in ABCD/CDAB order without enum, or None."""
        if (self.protocol != MODBUS or self.type not in NUMBER_TYPES or self.enum
                or self.order not in ("ABCD", "CDAB")):
            return None
        try:
            decoded = list(map(self._decode, raws))
        except (struct.error, TypeError):
            return None  # value() says what is wrong
        kinds = set(map(type, decoded))
        if kinds == {float} and not all(map(math.isfinite, decoded)):
            return None
        if self.scale != 1.0 or self.offset != 0.0 or self.decimals is not None:
            registers.scaled(decoded[0], self.scale, self.offset, self.decimals)  # its checks
            scaled = map(mul, decoded, repeat(self.scale))
            if self.decimals:
                scaled = (map(truediv, scaled, repeat(10 ** self.decimals)) if self.decimals > 0
                          else map(mul, scaled, repeat(10 ** -self.decimals)))
            decoded = list(map(float, map(add, scaled, repeat(self.offset))))
            kinds = {float}
        if kinds == {float}:  # normal_value: -0.0 -> 0.0, non-finite -> None
            return (list(map(add, decoded, repeat(0.0))) if all(map(math.isfinite, decoded))
                    else None)
        if kinds == {int} and INT64[0] <= min(decoded) and max(decoded) <= INT64[1]:
            return decoded
        return None

    @cached_property
    def _decode(self) -> Callable[[list[int]], Any]:
        """drivers.registers.decode for this type and order, prepared once (cached structs)."""
        return registers.decoder(self.type, self.order)

    @cached_property
    def _enum(self) -> dict[str, str]:
        return dict(self.enum)

    def gives(self, raw: list[int], value: Any) -> bool:
        """Whether this recipe reproduces `value` exactly (type and float bits) from `raw`."""
        try:
            predicted = self.value(raw)
        except Exception:  # any failure of the decoding just means: send the value itself
            return False
        return same_value(predicted, value)

    def with_decimals_for(self, raw: list[int], value: Any) -> Recipe | None:
        """A decimals_from recipe made concrete: the decimals that give `value`, or None."""
        for decimals in DECIMALS_TRIED:
            candidate = Recipe(self.protocol, self.type, self.order, self.scale, self.offset,
                               decimals, self.enum, self.signed)
            if candidate.gives(raw, value):
                return candidate
        return None

    def to_wire(self) -> list[Any]:
        if self.protocol == DLT645:
            return [DLT645, self.decimals, self.signed]
        return [MODBUS, self.type, self.order, self.scale, self.offset, self.decimals,
                dict(self.enum) or None]

    @classmethod
    def from_wire(cls, item: Any) -> Recipe:
        """A recipe from its JSON array; WireError saying what was expected."""
        try:
            if item[0] == DLT645 and len(item) == 3:
                decimals, signed = item[1], item[2]
                if isinstance(decimals, int) and isinstance(signed, bool):
                    return cls(DLT645, decimals=decimals, signed=signed)
            elif item[0] == MODBUS and len(item) == 7:
                _, type_, order, scale, offset, decimals, enum = item
                if (type_ in registers.TYPES and order in registers.ORDERS
                        and isinstance(scale, int | float) and isinstance(offset, int | float)
                        and (decimals is None or isinstance(decimals, int))
                        and (enum is None or isinstance(enum, dict))):
                    return cls(MODBUS, type_, order, float(scale), float(offset), decimals,
                               tuple(sorted((enum or {}).items())))
        except (TypeError, IndexError, KeyError):
            pass
        raise WireError(f"recipe {json.dumps(item)[:200]}: expected [\"modbus\", type, order, "
                        "scale, offset, decimals, enum] or [\"dlt645\", decimals, signed]")


def same_value(a: Any, b: Any) -> bool:
    """Equal as the canonical bytes would write them: same type, and floats with the same bits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


def recipe_for(point: ModbusPoint | Dlt645Point) -> Recipe:
    if isinstance(point, Dlt645Point):
        return Recipe(DLT645, decimals=point.decimals, signed=point.signed)
    return Recipe(MODBUS, point.type, point.order, point.scale, point.offset, None,
                  tuple(sorted(point.enum.items())), decimals_from=point.decimals_from)


def recipes_from_config(config: GatewayConfig) -> dict[tuple[str, str], Recipe]:
    """The recipe of every point the config reads, by (device, point)."""
    recipes = {}
    for device in config.devices:
        for point in config.effective_points(device):
            recipes[(device.name, point.name)] = recipe_for(point)
    return recipes
