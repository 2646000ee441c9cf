"""Turn a device's raw registers or DL/T 645 value bytes into readings with units and quality."""

from __future__ import annotations

from drivers import dlt645, registers
from gateway.point_names import implausible
from gateway.point_values import modbus_value
from gateway.profiles import Dlt645Point, ModbusPoint
from gateway.readings import QUALITY_GOOD, QUALITY_INVALID, Reading


class ModbusDecoder:
    """Decodes one device's points; remembers raw values that other points take decimals from."""

    def __init__(self, device: str, points: list[ModbusPoint]) -> None:
        self.device = device
        self.points = points
        self.decimal_sources = {p.decimals_from for p in points if p.decimals_from}
        self.known_raw: dict[str, int | float | str] = {}  # last raw value of decimal sources

    def decode(
        self, raw_by_point: dict[str, list[int]], wall: float, mono: float
    ) -> list[Reading]:
        """Readings for every point whose registers arrived in this poll."""
        raws: dict[str, int | float | str] = {}
        quality: dict[str, str] = {}
        for point in self.points:
            regs = raw_by_point.get(point.name)
            if regs is None:
                continue
            try:
                raws[point.name] = registers.decode(regs, point.type, point.order)
                quality[point.name] = QUALITY_GOOD
            except ValueError:  # e.g. a BCD register holding a non-decimal nibble
                quality[point.name] = QUALITY_INVALID
        for name in self.decimal_sources:
            if name in raws:
                self.known_raw[name] = raws[name]
        readings = []
        for point in self.points:
            regs = raw_by_point.get(point.name)
            if regs is None:
                continue
            value, good = self._value(point, raws.get(point.name))
            readings.append(
                Reading(
                    device=self.device,
                    point=point.name,
                    value=value,
                    unit=point.unit,
                    raw=tuple(regs),
                    wall_time=wall,
                    mono_time=mono,
                    quality=(quality[point.name] if good and not implausible(
                        point.plausible, value) else QUALITY_INVALID),
                    kind=point.kind,
                )
            )
        return readings

    def _value(
        self, point: ModbusPoint, raw: int | float | str | None
    ) -> tuple[int | float | str | None, bool]:
        if raw is None:
            return None, False
        decimals: int | None = None
        known = True
        if point.decimals_from:  # a register holding 0..9, else the value is not known
            source = self.known_raw.get(point.decimals_from)
            if isinstance(source, int) and 0 <= source <= 9:
                decimals = source
            else:
                known = False
        return modbus_value(raw, point.type, point.scale, point.offset, decimals, point.enum,
                            decimals_known=known)


def decode_dlt645(
    device: str, point: Dlt645Point, data: bytes, wall: float, mono: float
) -> Reading:
    """One DL/T 645 value: BCD bytes, low byte first, with the point's decimals and sign."""
    try:
        value: float | None = dlt645.decode_bcd(data, point.decimals, point.signed)
        quality = QUALITY_INVALID if implausible(point.plausible, value) else QUALITY_GOOD
    except ValueError:
        value, quality = None, QUALITY_INVALID
    return Reading(
        device=device,
        point=point.name,
        value=value,
        unit=point.unit,
        raw=tuple(data),
        wall_time=wall,
        mono_time=mono,
        quality=quality,
        kind=point.kind,
    )
