"""One simulated meter: profile points filled from the physics, its faults, what it served."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers import registers
from gateway.profiles import Dlt645Point, ModbusPoint, Profile, load_profile
from gateway.simulator import encoding
from gateway.simulator.faults import Faults
from gateway.simulator.physics import Snapshot
from gateway.simulator.quantities import TOTAL_QUANTITIES, DeviceTotals, canonical_values
from gateway.units import from_base, normalise_unit

# Modbus exception codes the meter itself raises (Modbus Application Protocol V1.1b3 §7).
ILLEGAL_FUNCTION = 1
ILLEGAL_DATA_ADDRESS = 2
ILLEGAL_DATA_VALUE = 3
SERVED_LOG_LENGTH = 10_000
RELAY_CHANNELS = 8  # a relay module's coils 0..7
FULL_SCALE_M = 100.0  # the level transmitter's range
_THREE_PHASE_HINTS = ("voltage_l2", "voltage_l3", "current_l2", "current_l3", "power_l2")


@dataclass
class SimDevice:
    """A simulated meter as the caller describes it: name, model, bus identity, fixed values."""

    name: str
    model: str
    slave_id: int | None = None  # Modbus unit id (1-247), Modbus profiles
    address: str | None = None  # 12 digits, DL/T 645 profiles
    settings: dict[str, Any] = field(
        default_factory=dict
    )  # point name -> fixed value (point's unit)
    profile: Profile | None = None  # None: load_profile(model, profile_dirs)
    profile_dirs: list[Path] = field(default_factory=list)
    phases: int | None = None  # 1 or 3; None: 3 if the profile has L2/L3 points or is DL/T 645


class SlaveFault(Exception):
    """The meter refuses a request with a Modbus exception code."""

    def __init__(self, code: int, why: str) -> None:
        super().__init__(f"exception {code}: {why}")
        self.code = code


@dataclass(frozen=True)
class ServedRecord:
    """One value as a reply carried it."""

    mono_time: float
    sim_time: float
    device: str
    point: str
    value: Any
    intact: bool  # False when a fault corrupted the reply (the master should have rejected it)


class Meter:
    """The runtime of one SimDevice: point values, Modbus register image, DL/T 645 data, faults."""

    def __init__(self, device: SimDevice, seed: int, first: Snapshot) -> None:
        self.device = device
        self.name = device.name
        self.profile = device.profile or load_profile(device.model, device.profile_dirs or None)
        self.protocol = self.profile.model.protocol
        self.points: dict[str, ModbusPoint | Dlt645Point] = {p.name: p for p in self.profile.points}
        unknown = sorted(set(device.settings) - set(self.points))
        if unknown:
            raise ValueError(
                f"device {self.name!r}: settings name points {unknown} that profile "
                f"{self.profile.model.name!r} does not have; it has {sorted(self.points)}"
            )
        self.phases = device.phases or (
            3
            if self.protocol == "dlt645" or any(h in self.points for h in _THREE_PHASE_HINTS)
            else 1
        )
        self.line_baud = 9600  # set by the line it is put on (QDY30A reports its baud code)
        rng = random.Random(f"meter:{seed}:{device.name}")
        # The meter's counters started long before the simulation.
        self._energy_offset = round(rng.uniform(1_000.0, 30_000.0), 2)
        self._export_kwh = round(rng.uniform(0.0, 2.0), 2)
        self._volume_offset = round(rng.uniform(5_000.0, 300_000.0), 3)
        self._reverse_m3 = round(rng.uniform(0.0, 20.0), 3)
        self._frozen_volume: float | None = None  # set while the pipe is empty
        self._point_offsets: dict[str, float] = {}  # rollover/reset, in the point's unit
        self._frozen_points: dict[str, Any] = {}  # freeze fault: point -> value held
        self.coils: dict[int, bool] = {}  # relay channels (FC 1/5), all off at power-up
        self.on_coil: Any = None  # called (address, on) after a coil write: wiring to the pump
        self.faults = Faults()
        self.settings = dict(device.settings)
        self._choose_decimals(first)
        self.rng = random.Random(f"faults:{seed}:{device.name}")
        self.served: dict[str, Any] = {}
        self.log: deque[ServedRecord] = deque(maxlen=SERVED_LOG_LENGTH)
        self.counters = {"requests": 0, "replies": 0, "exceptions": 0, "dropped": 0, "corrupted": 0}

    # -- configuration points ----------------------------------------------------------------------
    def _choose_decimals(self, first: Snapshot) -> None:
        """Set each `decimals_from` register so every point scaled by it fits its type with room."""
        base = self._base_values(first)
        chosen: dict[str, int] = {}
        for point in self.points.values():
            ref = getattr(point, "decimals_from", None)
            if not ref or ref in self.settings:
                continue
            if ref not in self.points:
                raise ValueError(
                    f"profile {self.profile.model.name!r}: point {point.name!r} takes its decimals "
                    f"from {ref!r}, which is not a point of the profile"
                )
            value = self._value(point, base, decimals_pending=True)
            peak = abs(float(value)) * 1.5 + 1.0
            fits = encoding.decimals_that_fit(point, peak)  # type: ignore[arg-type]
            chosen[ref] = min(fits, chosen.get(ref, fits))
        self.settings.update(chosen)

    def decimals_for(self, point: ModbusPoint) -> int | None:
        return int(self.settings[point.decimals_from]) if point.decimals_from else None

    # -- values ------------------------------------------------------------------------------------
    @property
    def empty_pipe(self) -> bool:
        return self.faults.active("empty_pipe")

    def _totals(self, snap: Snapshot) -> DeviceTotals:
        volume = snap.volume_m3 + self._volume_offset
        if self._frozen_volume is not None:
            volume = self._frozen_volume
        return DeviceTotals(
            energy_kwh=snap.energy_kwh + self._energy_offset,
            export_kwh=self._export_kwh,
            volume_m3=volume,
            reverse_m3=self._reverse_m3,
        )

    def _base_values(self, snap: Snapshot) -> dict[str, float]:
        return canonical_values(snap, self._totals(snap), self.phases, self.empty_pipe)

    def _wrap(self, point: ModbusPoint | Dlt645Point) -> float:
        if isinstance(point, Dlt645Point):
            return encoding.dlt645_wrap(point)
        return encoding.modbus_wrap(point, self.decimals_for(point))

    def _is_total(self, point: ModbusPoint | Dlt645Point) -> bool:
        return point.name in TOTAL_QUANTITIES

    def _unwrapped(self, point: ModbusPoint | Dlt645Point, base: dict[str, float]) -> float:
        return from_base(base[point.name], point.unit) + self._point_offsets.get(point.name, 0.0)

    def values(self, snap: Snapshot) -> dict[str, Any]:
        """Every point's value now, in the point's own unit (enum/bit points as raw numbers)."""
        base = self._base_values(snap)
        return {name: self._value(point, base) for name, point in self.points.items()}

    def _value(
        self,
        point: ModbusPoint | Dlt645Point,
        base: dict[str, float],
        decimals_pending: bool = False,
    ) -> Any:
        name = point.name
        if name in self._frozen_points:
            return self._frozen_points[name]
        if name in self.settings:
            return self.settings[name]
        special = _CONFIG_VALUES.get(name)
        if special is not None:
            return special(self, point)
        if name in base:
            if self._is_total(point) and not decimals_pending:
                return self._unwrapped(point, base) % self._wrap(point)
            return from_base(base[name], point.unit)
        return _plausible(point, self.device)

    # -- totaliser actions -------------------------------------------------------------------------
    def _total_points(self, only: str | None) -> list[ModbusPoint | Dlt645Point]:
        totals = [p for p in self.points.values() if self._is_total(p)]
        if only is not None:
            totals = [p for p in totals if p.name == only]
            if not totals:
                names = [p.name for p in self.points.values() if self._is_total(p)]
                raise ValueError(f"device {self.name!r} has no totaliser {only!r}; it has {names}")
        if not totals:
            raise ValueError(
                f"device {self.name!r} ({self.profile.model.name}) has no totaliser points"
            )
        return totals

    def rollover(self, snap: Snapshot, point: str | None = None, margin: float = 1.0) -> None:
        """Jump totalisers to `margin` (point's unit) below their wrap point, so they wrap soon."""
        base = self._base_values(snap)
        for p in self._total_points(point):
            wrap = self._wrap(p)
            if not 0 < margin < wrap:
                raise ValueError(
                    f"rollover margin must be in (0, {wrap}) for {p.name!r}, got {margin}"
                )
            current = from_base(base[p.name], p.unit)
            self._point_offsets[p.name] = wrap - margin - current

    def reset(self, snap: Snapshot, point: str | None = None) -> None:
        """Set totalisers to zero (a meter reset); they count up again from there."""
        base = self._base_values(snap)
        for p in self._total_points(point):
            self._point_offsets[p.name] = -from_base(base[p.name], p.unit)

    def power_cycle(self, snap: Snapshot) -> None:
        """A relay module loses power and comes back: every coil is off again (as at power-up),
        and what they were wired to follows (a cut-off pump is given back to its duty cycle)."""
        if self.profile.model.role != "relay":
            raise ValueError(f"power_cycle is for relay modules; {self.profile.model.name} "
                             f"has no coils")
        was_on = [address for address, on in self.coils.items() if on]
        self.coils = {}
        for address in was_on:
            if self.on_coil is not None and not self.faults.active("welded"):
                self.on_coil(address, False)

    def set_empty_pipe(self, empty: bool, snap: Snapshot) -> None:
        """Freeze (empty) or resume (full) the volume counters; flow reads 0 while empty."""
        totals = self._totals(snap)
        if empty and self._frozen_volume is None:
            self._frozen_volume = totals.volume_m3
        elif not empty and self._frozen_volume is not None:
            self._volume_offset = self._frozen_volume - snap.volume_m3
            self._frozen_volume = None

    def freeze(self, points: list[str], values: dict[str, Any], snap: Snapshot) -> None:
        """Hold points at their value now (or the given one) until unfreeze()."""
        unknown = sorted(set(points) - set(self.points))
        if unknown:
            raise ValueError(f"device {self.name!r} has no point(s) {unknown}; it has "
                             f"{sorted(self.points)}")
        now = self.values(snap)
        self._frozen_points = {p: values.get(p, now[p]) for p in points}

    def unfreeze(self, snap: Snapshot) -> None:
        """Let frozen points move again; a totaliser goes on from the value it held (the
        volume or energy while it was frozen is lost, as with a meter that stood still)."""
        held, self._frozen_points = self._frozen_points, {}
        base = self._base_values(snap)
        for name, value in held.items():
            point = self.points[name]
            if self._is_total(point) and isinstance(value, int | float):
                self._point_offsets[name] = self._point_offsets.get(name, 0.0) + (
                    float(value) - self._unwrapped(point, base))

    # -- Modbus ------------------------------------------------------------------------------------
    def read_coils(self, address: int, count: int) -> list[bool]:
        """FC 1: relay modules only (role relay), channels 0..7."""
        self._check_coils(address, count)
        return [self.coils.get(a, False) for a in range(address, address + count)]

    def write_coil(self, address: int, on: bool) -> None:
        """FC 5: switch one channel; a welded relay (fault) takes the write but does not act."""
        self._check_coils(address, 1)
        self.coils[address] = on
        if self.on_coil is not None and not self.faults.active("welded"):
            self.on_coil(address, on)

    def _check_coils(self, address: int, count: int) -> None:
        if self.profile.model.role != "relay":
            raise SlaveFault(ILLEGAL_FUNCTION, f"{self.profile.model.name} has no coils")
        if address < 0 or address + count > RELAY_CHANNELS:
            raise SlaveFault(ILLEGAL_DATA_ADDRESS,
                             f"coils {address}..{address + count - 1} outside 0..7")

    def read_registers(self, function: int, address: int, count: int, snap: Snapshot):
        """(registers, {point: value served}) for a read; raises SlaveFault as the meter would."""
        points = [
            p for p in self.points.values() if isinstance(p, ModbusPoint) and p.function == function
        ]
        if not points:
            raise SlaveFault(
                ILLEGAL_FUNCTION, f"{self.profile.model.name} has no FC{function} registers"
            )
        values = self.values(snap)
        image: dict[int, int] = {}
        spans: list[tuple[ModbusPoint, int, int]] = []
        for p in points:
            words = encoding.encode_modbus(p, values[p.name], self.decimals_for(p))
            for i, word in enumerate(words):
                image[p.address + i] = word
            spans.append((p, p.address, p.address + len(words)))
        low = min(start for _, start, _ in spans)
        high = max(end for _, _, end in spans)
        end = address + count
        if address < low or end > high:
            raise SlaveFault(
                ILLEGAL_DATA_ADDRESS,
                f"registers {address}..{end - 1} outside the map {low}..{high - 1}",
            )
        words = [image.get(a, 0) for a in range(address, end)]
        served = {
            p.name: encoding.decode_modbus(
                p, words[start - address : stop - address], self.decimals_for(p)
            )
            for p, start, stop in spans
            if start >= address and stop <= end
        }
        return words, served

    def write_registers(self, address: int, words: list[int]) -> None:
        """Store a write into config points (e.g. the QDY30A decimal point); others are refused."""
        end = address + len(words)
        touched = []
        for p in self.points.values():
            if not isinstance(p, ModbusPoint) or p.function != 3:
                continue
            width = registers.register_count(p.type, p.length)
            if p.address < end and address < p.address + width:
                if p.kind != "config" or p.address < address or p.address + width > end:
                    raise SlaveFault(
                        ILLEGAL_DATA_ADDRESS, f"register {p.address} ({p.name}) is read-only"
                    )
                touched.append((p, words[p.address - address : p.address - address + width]))
        if not touched or sum(
            registers.register_count(p.type, p.length) for p, _ in touched
        ) != len(words):
            raise SlaveFault(
                ILLEGAL_DATA_ADDRESS, f"registers {address}..{end - 1} are not writable"
            )
        for p, part in touched:
            self.settings[p.name] = encoding.decode_modbus(p, part, None)

    # -- DL/T 645 ----------------------------------------------------------------------------------
    def read_di(self, di: str, snap: Snapshot) -> tuple[bytes, dict[str, Any]] | None:
        """(value bytes, {point: value served}) for a data identifier, None if absent."""
        for p in self.points.values():
            if isinstance(p, Dlt645Point) and p.di.upper() == di.upper():
                data = encoding.encode_dlt645(p, float(self.values(snap)[p.name]))
                return data, {p.name: encoding.decode_dlt645(p, data)}
        return None

    # -- what was served ---------------------------------------------------------------------------
    def record(self, served: dict[str, Any], mono: float, sim: float, intact: bool) -> None:
        """Remember the values a reply carried (served_values keeps only intact replies)."""
        if intact:
            self.served.update(served)
        for point, value in served.items():
            self.log.append(ServedRecord(mono, sim, self.name, point, value, intact))


def _pipe_status(meter: Meter, point: Any) -> int:
    raw = encoding.enum_raw(point.enum, "empty" if meter.empty_pipe else "full")
    return raw if raw is not None else int(meter.empty_pipe)


def _error_code(meter: Meter, point: Any) -> int:
    bits = [int(bit) for bit, flag in point.flags.items() if "empty" in flag.lower()]
    return sum(1 << bit for bit in bits) if meter.empty_pipe else 0


def _unit_code(meter: Meter, point: Any) -> int:
    """The code of the level's unit (a metre unit: "m" or "mH2O")."""
    level = meter.points.get("level")
    unit = normalise_unit(level.unit) if level is not None else "m"
    for key, label in point.enum.items():
        if normalise_unit(label) in (unit, unit + "h2o"):
            return int(key, 0)
    return int(next(iter(point.enum)), 0) if point.enum else 0


def _baud_code(meter: Meter, point: Any) -> int:
    raw = encoding.enum_raw(point.enum, str(meter.line_baud))
    return raw if raw is not None else 0


# Configuration and status points whose value follows from the meter's state, by canonical name.
_CONFIG_VALUES: dict[str, Any] = {
    "pipe_status": _pipe_status,
    "error_code": _error_code,
    "unit_code": _unit_code,
    "baud_code": _baud_code,
    "slave_address": lambda meter, point: meter.device.slave_id or 1,
    "software_version": lambda meter, point: 200,  # relay module firmware V2.00
    "zero_point": lambda meter, point: 0.0,
    "full_scale": lambda meter, point: FULL_SCALE_M,
    "totalizer_multiplier": lambda meter, point: 3,  # TUF-2000M: 10^(n-3), 3 = x1
}


def _plausible(point: ModbusPoint | Dlt645Point, device: SimDevice) -> Any:
    """A fixed plausible value for a point the physics does not know."""
    enum = getattr(point, "enum", {})
    if enum:
        return int(next(iter(enum)), 0)
    ptype = getattr(point, "type", "")
    if ptype == "string":
        return f"SIM-{device.name}"[: 2 * (point.length or 1)]  # type: ignore[union-attr]
    if ptype.startswith("bits"):
        return 0
    if point.kind in ("config", "status"):
        return 0
    return 1.0 if point.kind == "instant" else 100.0
