"""Which profile explains what a device returned: the evidence `wellgate scan` ranks maps by.

How a device that answered is matched to a profile
--------------------------------------------------
Every Modbus profile's read plan is asked of the device (a read several profiles share is asked
once) and each point it returns is judged, decoded exactly as acquisition decodes it:

- *plausible*: registers not all zero, and a value this kind of point can have (PLAUSIBLE_RANGES
  by canonical name and unit; an enum value the profile names; `slave_address` equal to the id
  asked; any other float between 1e-6 and 1e9 in magnitude). This is evidence for the map.
- *implausible*: undecodable, NaN/inf, an enum value the profile does not name, bits the profile
  does not name, a value outside its range, a float crumb (0 < |x| < 1e-6: the bits of another
  type). This is evidence against it.
- *neutral*: all-zero registers (unmapped registers often read 0, and a stopped pump reads 0),
  integers and bit fields that are within reason but say nothing about the map.

A profile *fits* when every one of its blocks was read without an exception or a failure and no
point was implausible. Profiles are ranked: fitting ones first, then by the number of plausible
points (more evidence), then by the share of the profile's points that were plausible (of two
maps that explain the same registers, the smaller one explains them better: an SDM120 map
read from an SDM120 beats the SDM630 map whose extra phases read 0). Profiles without a single
plausible point are not listed. `score` is the plausible share minus the implausible share,
0..1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import get_args

from gateway.acquisition.decode import ModbusDecoder
from gateway.acquisition.plan import ReadBlock, plan_reads
from gateway.acquisition.transport import ModbusTransport, TransactionFailed
from gateway.profiles import (
    ModbusPoint,
    Parity,
    Profile,
    available_profiles,
    load_profile_file,
)
from gateway.readings import QUALITY_INVALID, Reading

# Unit factors to the unit each range below is given in.
_UNIT_FACTORS: dict[str, tuple[str, float]] = {
    "mV": ("V", 1e-3), "V": ("V", 1.0), "kV": ("V", 1e3),
    "mA": ("A", 1e-3), "A": ("A", 1.0), "kA": ("A", 1e3),
    "W": ("kW", 1e-3), "kW": ("kW", 1.0), "MW": ("kW", 1e3),
    "var": ("kvar", 1e-3), "kvar": ("kvar", 1.0), "Mvar": ("kvar", 1e3),
    "Wh": ("kWh", 1e-3), "kWh": ("kWh", 1.0), "MWh": ("kWh", 1e3),
    "Hz": ("Hz", 1.0), "m3/h": ("m3/h", 1.0), "m3/s": ("m3/h", 3600.0), "L/s": ("m3/h", 3.6),
    "m/s": ("m/s", 1.0), "m3": ("m3", 1.0), "L": ("m3", 1e-3), "m": ("m", 1.0),
    "cm": ("m", 1e-2), "mm": ("m", 1e-3), "": ("", 1.0),
}
# What a working meter at a pumped well can report, by point-name prefix (docs/points.md):
# (unit, lowest, highest). A pump-house feed is far below 10 MW and 10 kA; totals are counters.
PLAUSIBLE_RANGES: tuple[tuple[str, str, float, float], ...] = (
    ("battery_voltage", "V", 0.0, 60.0),
    ("voltage_", "V", 0.0, 1_000.0),
    ("current_", "A", -10_000.0, 10_000.0),
    ("active_power", "kW", -10_000.0, 10_000.0),
    ("reactive_power", "kvar", -10_000.0, 10_000.0),
    ("power_factor", "", -1.0, 1.0),
    ("frequency", "Hz", 45.0, 65.0),
    ("import_energy", "kWh", 0.0, 1e9),
    ("export_energy", "kWh", 0.0, 1e9),
    ("total_energy", "kWh", 0.0, 1e9),
    ("flow_rate", "m3/h", -1e5, 1e5),
    ("velocity", "m/s", -20.0, 20.0),
    ("forward_total", "m3", 0.0, 1e10),
    ("reverse_total", "m3", 0.0, 1e10),
    ("net_total", "m3", -1e10, 1e10),
    ("level", "m", -10.0, 1_000.0),
    ("decimal_point", "", 0.0, 9.0),
)
# The values an integer register type can hold: a range check that every value passes (u16 x 0.01
# as amperes) is no evidence, so it counts as neutral.
_INTEGER_BOUNDS: dict[str, tuple[int, int]] = {
    "u16": (0, 0xFFFF), "i16": (-0x8000, 0x7FFF), "u32": (0, 0xFFFFFFFF),
    "i32": (-0x80000000, 0x7FFFFFFF), "u64": (0, 2**64 - 1), "i64": (-(2**63), 2**63 - 1),
    "bcd16": (0, 9_999), "bcd32": (0, 99_999_999), "long_fraction": (-0x80000000, 0x7FFFFFFF),
}
FLOAT_CRUMB = 1e-6  # a non-zero float smaller than this is another type's bits
FLOAT_HUGE = 1e9
PLAUSIBLE, NEUTRAL, IMPLAUSIBLE = "plausible", "neutral", "implausible"
PARITIES: tuple[str, ...] = get_args(get_args(Parity)[0])  # ("N", "E", "O")


@dataclass
class Match:
    """How well one profile's map explains what a device returned."""

    profile: str
    points: int  # points in the profile
    plausible: int  # points read back with a plausible non-zero value: evidence for the map
    implausible: int  # points read back with a value the map cannot give: evidence against
    blocks: int  # read requests of the profile's plan
    blocks_read: int  # of those, answered with data
    fits: bool = False  # every block read, nothing implausible
    score: float = 0.0  # (plausible - implausible) / points, at least 0

    def __post_init__(self) -> None:
        self.fits = self.blocks_read == self.blocks and self.implausible == 0
        self.score = round(max(0, self.plausible - self.implausible) / self.points, 2)

    def rank(self) -> tuple[bool, int, float]:
        return (self.fits, self.plausible - self.implausible, self.plausible / self.points)


@dataclass
class Found:
    """One device that answered, and the profiles that fit it best (best first)."""

    protocol: str
    baud: int
    parity: str
    slave_id: int | None = None
    address: str | None = None
    answer: str = ""  # "reply" or the exception it sent
    matches: list[Match] = field(default_factory=list)
    note: str = ""

    @property
    def line(self) -> str:
        """The line settings it answered at, e.g. "9600 8N1"."""
        return f"{self.baud} 8{self.parity}1"


def modbus_profiles() -> dict[str, Profile]:
    """Every Modbus profile that can be found, by name."""
    profiles = {name: load_profile_file(path) for name, path in available_profiles().items()}
    return {name: p for name, p in sorted(profiles.items()) if p.model.protocol == "modbus"}


def _range_of(point: ModbusPoint) -> tuple[float, float] | None:
    """The plausible range of a point in its own unit (None: no range known for this point):
    the profile's own `plausible` limits, else the range its canonical name has here."""
    if point.plausible is not None:
        return point.plausible[0], point.plausible[1]
    for prefix, unit, low, high in PLAUSIBLE_RANGES:
        if point.name.startswith(prefix):
            if _UNIT_FACTORS.get(point.unit, ("?", 1.0))[0] != unit:
                return None  # a unit the range is not given in: no opinion
            factor = _UNIT_FACTORS[point.unit][1]
            return low / factor, high / factor
    return None


def _cannot_fail(point: ModbusPoint, low: float, high: float) -> bool:
    """Whether every raw value of an integer point lands inside [low, high] (decimals 0)."""
    bounds = _INTEGER_BOUNDS.get(point.type)
    if bounds is None:
        return False
    ends = [raw * point.scale + point.offset for raw in bounds]
    return low <= min(ends) and max(ends) <= high


def judge(point: ModbusPoint, reading: Reading, slave: int) -> str:
    """PLAUSIBLE, NEUTRAL or IMPLAUSIBLE: what one decoded point says about the map."""
    if not any(reading.raw):
        return NEUTRAL
    value = reading.value
    if reading.quality == QUALITY_INVALID or value is None:
        return IMPLAUSIBLE
    if isinstance(value, str):  # an enum name, or a string register
        return PLAUSIBLE if value.isprintable() and value.strip() else IMPLAUSIBLE
    if point.name == "slave_address":
        return PLAUSIBLE if value == slave else IMPLAUSIBLE
    if point.type.startswith("bits"):
        named = sum(1 << int(bit) for bit in point.flags)
        return IMPLAUSIBLE if point.flags and value & ~named else NEUTRAL
    floating = point.type.startswith("float")
    if floating and 0 < abs(value) < FLOAT_CRUMB:
        return IMPLAUSIBLE
    known = _range_of(point)
    if known is not None:
        low, high = known
        if _cannot_fail(point, low, high):
            return NEUTRAL
        return PLAUSIBLE if low <= value <= high else IMPLAUSIBLE
    if floating:
        return PLAUSIBLE if abs(value) <= FLOAT_HUGE else IMPLAUSIBLE
    return NEUTRAL


class _Reads:
    """One device's replies by (function, address, count), so profiles share reads."""

    def __init__(self, transport: ModbusTransport, slave: int) -> None:
        self.transport = transport
        self.slave = slave
        self._replies: dict[tuple[int, int, int], list[int] | None] = {}

    async def block(self, block: ReadBlock) -> list[int] | None:
        key = (block.function, block.address, block.count)
        if key not in self._replies:
            try:
                self._replies[key] = await self.transport.read(self.slave, *key)
            except TransactionFailed:
                self._replies[key] = None
        return self._replies[key]


async def match_profile(name: str, profile: Profile, reads: _Reads) -> Match:
    """Read one profile's plan from the device and count the evidence for and against it."""
    points = [p for p in profile.points if isinstance(p, ModbusPoint)]
    blocks = plan_reads(points, profile.defaults.max_registers_per_request,
                        profile.defaults.max_gap)
    raw_by_point: dict[str, list[int]] = {}
    blocks_read = 0
    for block in blocks:
        values = await reads.block(block)
        if values is None:
            continue
        blocks_read += 1
        for point in block.points:
            raw_by_point[point.name] = block.slice_for(point, values)
    readings = ModbusDecoder(name, points).decode(raw_by_point, 0.0, 0.0)
    by_name = {p.name: p for p in points}
    verdicts = [judge(by_name[r.point], r, reads.slave) for r in readings]
    return Match(name, len(points), verdicts.count(PLAUSIBLE), verdicts.count(IMPLAUSIBLE),
                 len(blocks), blocks_read)


async def best_matches(transport: ModbusTransport, slave: int, profiles: dict[str, Profile],
                       keep: int = 3) -> list[Match]:
    """The `keep` best-ranked profiles with some evidence for them (see the module docstring)."""
    reads = _Reads(transport, slave)
    matches = [await match_profile(name, profile, reads) for name, profile in profiles.items()]
    matches = [m for m in matches if m.plausible > 0]
    matches.sort(key=Match.rank, reverse=True)
    return matches[:keep]


