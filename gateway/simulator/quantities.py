"""Canonical point values (docs/points.md) of one meter, in base units, from the well's snapshot."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.simulator.physics import Snapshot

# Canonical names whose value is a totaliser, with the device quantity they count.
TOTAL_QUANTITIES = {
    "import_energy": "energy",
    "export_energy": "export",
    "total_energy": "energy+export",
    "forward_total": "volume",
    "reverse_total": "reverse",
    "net_total": "volume-reverse",
}

# How a three-phase pump's power splits between the phases (a motor is never perfectly balanced).
PHASE_SHARES = (0.3365, 0.3310, 0.3325)


@dataclass
class DeviceTotals:
    """A meter's own totals in base units (its counters started long before the simulation)."""

    energy_kwh: float
    export_kwh: float
    volume_m3: float
    reverse_m3: float


def canonical_values(snap: Snapshot, totals: DeviceTotals, phases: int, empty_pipe: bool) -> dict:
    """Every canonical quantity this simulator knows, in base units, for one meter."""
    power = snap.power_kw
    pf = snap.power_factor
    flow = 0.0 if empty_pipe else snap.flow_m3h
    velocity = 0.0 if empty_pipe else snap.velocity_ms
    voltages = snap.phase_voltages_v
    values: dict[str, float] = {
        "active_power": power,
        "reactive_power": power * math.tan(math.acos(min(1.0, pf))),
        "apparent_power": power / pf if pf else 0.0,
        "power_factor": pf,
        "frequency": snap.frequency_hz,
        "flow_rate": flow,
        "velocity": velocity,
        "level": snap.level_m,
        "depth_to_water": snap.depth_to_water_m,
        "signal_quality": 0.0 if empty_pipe else 85.0,
        "battery_voltage": 3.6,
        "import_energy": totals.energy_kwh,
        "export_energy": totals.export_kwh,
        "total_energy": totals.energy_kwh + totals.export_kwh,
        "forward_total": totals.volume_m3,
        "reverse_total": totals.reverse_m3,
        "net_total": totals.volume_m3 - totals.reverse_m3,
    }
    if phases == 3:
        for i, (volts, share) in enumerate(zip(voltages, PHASE_SHARES, strict=True), start=1):
            values[f"voltage_l{i}"] = volts
            values[f"current_l{i}"] = power * share * 1000.0 / (volts * pf)
            values[f"active_power_l{i}"] = power * share
        for a, b in ((1, 2), (2, 3), (3, 1)):
            values[f"voltage_l{a}_l{b}"] = (voltages[a - 1] + voltages[b - 1]) / 2 * math.sqrt(3)
    else:
        values["voltage_l1"] = voltages[0]
        values["current_l1"] = power * 1000.0 / (voltages[0] * pf)
        values["active_power_l1"] = power
    values["voltage"] = values["voltage_l1"]
    values["current"] = values["current_l1"]
    # TUF-2000M REG 92: working step in the high byte (0 here), signal quality 0..99 in the low one.
    values["step_and_signal_quality"] = values["signal_quality"]
    return values
