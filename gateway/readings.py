"""Decoded readings: the typed record that acquisition hands to the next stage."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Protocol

QUALITY_GOOD = "good"
QUALITY_INVALID = "invalid"  # decoded but not a usable number (NaN, inf, enum value unknown)
QUALITY_UNCERTAIN = "uncertain"  # the meter itself flags the value (e.g. empty pipe)


class Reading(NamedTuple):
    """One decoded point of one device at one instant, with the bytes it came from. A tuple:
    cheap to build (acquisition makes one per point per poll) and to unpack (the store)."""

    device: str
    point: str
    value: float | int | str | None
    unit: str
    raw: tuple[int, ...]  # the registers (Modbus) or data bytes (DL/T 645) the value came from
    wall_time: float  # time.time() when the reply arrived
    mono_time: float  # time.monotonic() when the reply arrived
    quality: str = QUALITY_GOOD
    kind: str = "instant"  # "instant" | "total" (a totaliser) | "status"
    clock: str | None = None  # "unsynchronised": the kernel did not call the wall clock set


class ReadingSink(Protocol):
    """Where acquisition delivers decoded readings (the store replaces the in-memory sink)."""

    def accept(self, readings: Iterable[Reading]) -> None: ...


class MemorySink:
    """Keeps the latest reading per (device, point) and a bounded history, for demo and tests."""

    def __init__(self, history: int = 10_000) -> None:
        self.latest: dict[tuple[str, str], Reading] = {}
        self.history: list[Reading] = []
        self._limit = history
        self.count = 0

    def accept(self, readings: Iterable[Reading]) -> None:
        for reading in readings:
            self.latest[(reading.device, reading.point)] = reading
            self.history.append(reading)
            self.count += 1
        if len(self.history) > self._limit:
            del self.history[: len(self.history) - self._limit]
