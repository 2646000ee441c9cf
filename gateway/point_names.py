"""Canonical point names (docs/points.md): the kind each must have, the quantity it measures,
and a profile point's plausibility limits (a value outside them cannot be real: invalid)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import Field

from gateway.errors import Problem

# Canonical point names (docs/points.md) and the kind each must have.
CANONICAL_KINDS: dict[str, str] = {
    "import_energy": "total", "export_energy": "total", "total_energy": "total",
    "active_power": "instant", "power_factor": "instant", "frequency": "instant",
    "voltage_l1": "instant", "voltage_l2": "instant", "voltage_l3": "instant",
    "current_l1": "instant", "current_l2": "instant", "current_l3": "instant",
    "flow_rate": "instant", "velocity": "instant",
    "forward_total": "total", "reverse_total": "total", "net_total": "total",
    "pipe_status": "status", "error_code": "status",
    "signal_quality": "instant", "battery_voltage": "instant", "level": "instant",
    "decimal_point": "config", "unit_code": "config",
    # water quality probes (issue 15)
    "conductivity": "instant", "tds": "instant", "salinity": "instant", "ph": "instant",
    "turbidity": "instant", "water_temperature": "instant",
}
# The quantity a canonical name measures (a phase suffix _l1.._l3 dropped): its unit's list.
CANONICAL_QUANTITIES: dict[str, str] = {
    "import_energy": "energy", "export_energy": "energy", "total_energy": "energy",
    "active_power": "power", "frequency": "frequency",
    "voltage": "voltage", "current": "current", "flow_rate": "flow rate",
    "velocity": "velocity", "forward_total": "volume", "reverse_total": "volume",
    "net_total": "volume", "level": "length", "battery_voltage": "voltage",
    "conductivity": "conductivity", "tds": "concentration", "salinity": "concentration",
    "ph": "acidity", "turbidity": "turbidity", "water_temperature": "temperature",
}

Plausible = Annotated[
    list[float] | None,
    Field(min_length=2, max_length=2, description="[low, high] in the point's unit: a value "
          "outside cannot be real (the reading is invalid), e.g. [0, 14] for pH"),
]


def plausible_limits_ordered(profile: Any) -> Iterator[Problem]:
    """A profile's (gateway.profiles imports this module, so the type is not named here)
    plausibility limits: two finite numbers, low below high, on a measured value."""
    for index, point in enumerate(profile.points):
        limits: Any = point.plausible
        if limits is None:
            continue
        loc = ("points", index, "plausible")
        if not all(math.isfinite(v) for v in limits) or not limits[0] < limits[1]:
            yield Problem(loc, "[low, high]: two finite numbers, low below high", list(limits))
        elif getattr(point, "type", "") == "string" or point.kind in ("status", "config"):
            yield Problem(loc, f"no limits for a {point.kind} point (only measured values have "
                          "them)", list(limits))


def implausible(limits: list[float] | None, value: Any) -> bool:
    """Whether a decoded number lies outside the point's plausibility limits."""
    if limits is None or not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return not limits[0] <= value <= limits[1]
