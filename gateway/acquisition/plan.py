"""Read planning: merge a device's points into as few Modbus requests as its profile allows."""

from __future__ import annotations

from dataclasses import dataclass

from drivers import registers
from gateway.profiles import ModbusPoint


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: a run of registers on one function code, and the points inside it."""

    function: int
    address: int
    count: int
    points: tuple[ModbusPoint, ...]

    def slice_for(self, point: ModbusPoint, values: list[int]) -> list[int]:
        """The registers of one point out of this block's reply."""
        start = point.address - self.address
        return values[start : start + point_width(point)]


def point_width(point: ModbusPoint) -> int:
    """How many registers a point occupies."""
    return registers.register_count(point.type, point.length)


def plan_reads(
    points: list[ModbusPoint], max_registers: int = 125, max_gap: int = 0
) -> list[ReadBlock]:
    """Group points into requests: same function, ascending address, span <= max_registers,
    and at most `max_gap` unrequested registers read between two points."""
    if not 1 <= max_registers <= 125:
        raise ValueError(f"max_registers must be 1..125, got {max_registers}")
    blocks: list[ReadBlock] = []
    for function in sorted({p.function for p in points}):
        ordered = sorted((p for p in points if p.function == function), key=lambda p: p.address)
        run: list[ModbusPoint] = []
        start = end = 0  # end is exclusive
        for point in ordered:
            width = point_width(point)
            if width > max_registers:
                raise ValueError(
                    f"point {point.name!r} needs {width} registers, more than the "
                    f"{max_registers} one request may read"
                )
            p_end = point.address + width
            if run and point.address - end <= max_gap and max(end, p_end) - start <= max_registers:
                run.append(point)
                end = max(end, p_end)
                continue
            if run:
                blocks.append(ReadBlock(function, start, end - start, tuple(run)))
            run, start, end = [point], point.address, p_end
        if run:
            blocks.append(ReadBlock(function, start, end - start, tuple(run)))
    return blocks
