"""Read planning: the Modbus requests with the least bus time a profile allows for its points.

A request costs a fixed part (its 8-byte request frame, the reply's 5 bytes of header and CRC, two
3.5-character gaps and the slave's turnaround) plus two bytes per register it reads. Merging two
runs of points saves one fixed part and costs the registers between them; which merges pay is an
exact dynamic programme over each function code's points in address order (a request is a run of
consecutive points, its span at most `max_registers` and every register in it readable: named by a
point, inside one of the profile's `readable_gaps`, or in a hole of at most `max_gap` registers).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from drivers import registers
from gateway.profiles import LineDefaults, ModbusPoint, ReadableRange

BITS_PER_CHARACTER = 11  # Modbus over serial line V1.02 §2.5.1: start, 8 data, parity/stop, stop
REQUEST_BYTES = 8  # slave, function, address (2), count (2), CRC (2)
REPLY_OVERHEAD_BYTES = 5  # slave, function, byte count, CRC (2); then 2 bytes per register
FIXED_GAP_ABOVE_19200 = 0.00175  # s, the spec's 3.5-character gap above 19200 baud
TCP_ROUND_TRIP = 0.002  # s, an assumed LAN round trip per Modbus TCP request
TCP_BITS_PER_SECOND = 10_000_000  # an assumed 10 Mbit/s link for a TCP reply's bytes


def point_width(point: ModbusPoint) -> int:
    """How many registers a point occupies."""
    return registers.register_count(point.type, point.length)


@dataclass(frozen=True, slots=True)
class BusCost:
    """Seconds of bus time one read request takes: `per_request` plus `per_register` × count."""

    per_request: float
    per_register: float

    @classmethod
    def rtu(cls, baud: int, gap: float | None = None, turnaround: float = 0.0) -> BusCost:
        """An RTU line: frames at 11 bits a character, a 3.5-character gap before each frame."""
        if baud <= 0:
            raise ValueError(f"baud must be a positive number of bits per second, got {baud}")
        character = BITS_PER_CHARACTER / baud
        if gap is None:
            gap = 3.5 * character if baud <= 19200 else FIXED_GAP_ABOVE_19200
        fixed = (REQUEST_BYTES + REPLY_OVERHEAD_BYTES) * character + 2 * gap + turnaround
        return cls(fixed, 2 * character)

    @classmethod
    def tcp(cls) -> BusCost:
        """Modbus TCP: a round trip per request dwarfs the bytes; merging is nearly free."""
        return cls(TCP_ROUND_TRIP, 16 / TCP_BITS_PER_SECOND)

    def request(self, count: int) -> float:
        """Seconds one request for `count` registers takes."""
        return self.per_request + count * self.per_register

    def plan(self, blocks: Iterable[ReadBlock]) -> float:
        """Seconds all `blocks` take, back to back."""
        return sum(self.request(block.count) for block in blocks)


DEFAULT_COST = BusCost.rtu(9600)


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


def _unreadable_prefix(
    points: Sequence[ModbusPoint], max_gap: int, readable: Iterable[tuple[int, int]]
) -> tuple[int, list[int]]:
    """(lowest address, prefix sums of registers a request must not read) over the points' span."""
    low = min(p.address for p in points)
    high = max(p.address + point_width(p) for p in points)
    mapped = [False] * (high - low)
    for p in points:
        for address in range(p.address, p.address + point_width(p)):
            mapped[address - low] = True
    allowed = list(mapped)
    for first, last in readable:
        for address in range(max(first, low), min(last + 1, high)):
            allowed[address - low] = True
    hole_start = None
    for offset, is_mapped in enumerate(mapped):
        if not is_mapped and hole_start is None:
            hole_start = offset
        elif is_mapped and hole_start is not None:
            if offset - hole_start <= max_gap:
                allowed[hole_start:offset] = [True] * (offset - hole_start)
            hole_start = None
    prefix = [0]
    for ok in allowed:
        prefix.append(prefix[-1] + (0 if ok else 1))
    return low, prefix


def _plan_function(
    function: int, points: list[ModbusPoint], max_registers: int, max_gap: int,
    readable: Iterable[tuple[int, int]], cost: BusCost,
) -> list[ReadBlock]:
    ordered = sorted(points, key=lambda p: (p.address, -point_width(p)))
    low, bad = _unreadable_prefix(ordered, max_gap, readable)
    n = len(ordered)
    best: list[tuple[float, int]] = [(0.0, 0)] + [(float("inf"), 0)] * n  # (seconds, requests)
    cut = [0] * (n + 1)  # best plan of the first j points ends with the run cut[j]..j-1
    for j in range(1, n + 1):
        end = 0
        for i in range(j - 1, -1, -1):
            start = ordered[i].address
            end = max(end, start + point_width(ordered[i]))
            if end - start > max_registers or bad[end - low] - bad[start - low]:
                break  # a longer run only spans more
            seconds, requests = best[i]
            candidate = (seconds + cost.request(end - start), requests + 1)
            if candidate < best[j]:
                best[j], cut[j] = candidate, i
    blocks: list[ReadBlock] = []
    j = n
    while j:
        run = ordered[cut[j]:j]
        start = run[0].address
        end = max(p.address + point_width(p) for p in run)
        blocks.append(ReadBlock(function, start, end - start, tuple(run)))
        j = cut[j]
    return blocks[::-1]


def plan_reads(
    points: list[ModbusPoint], max_registers: int = 125, max_gap: int = 0,
    readable: Iterable[ReadableRange] = (), cost: BusCost = DEFAULT_COST,
) -> list[ReadBlock]:
    """The requests with the least bus time under `cost` that read every point: one function
    each, span <= max_registers, no register read that is neither named by a point, inside a
    `readable` range of its function, nor in a hole of at most `max_gap` registers."""
    if not 1 <= max_registers <= 125:
        raise ValueError(f"max_registers must be 1..125, got {max_registers}")
    for point in points:
        if point_width(point) > max_registers:
            raise ValueError(
                f"point {point.name!r} needs {point_width(point)} registers, more than the "
                f"{max_registers} one request may read"
            )
    ranges = list(readable)
    blocks: list[ReadBlock] = []
    for function in sorted({p.function for p in points}):
        spans = [(r.first, r.last) for r in ranges if r.function == function]
        mine = [p for p in points if p.function == function]
        blocks += _plan_function(function, mine, max_registers, max_gap, spans, cost)
    return blocks


def plan_for_profile(
    points: list[ModbusPoint], defaults: LineDefaults, cost: BusCost = DEFAULT_COST
) -> list[ReadBlock]:
    """The plan a profile's line defaults allow (its request size, gap and readable ranges)."""
    return plan_reads(points, defaults.max_registers_per_request, defaults.max_gap,
                      defaults.readable_gaps, cost)
