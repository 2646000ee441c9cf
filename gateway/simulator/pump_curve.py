"""A submersible pump set on its curve: where the pump curve meets the well's system curve.

The pump's head falls with flow (H = H0 − a·Q², the usual quadratic fit of a catalogue H–Q
curve), its hydraulic efficiency is a parabola through the best-efficiency point
(η_p = η_best · (2x − x²), x = Q / Q_best), the motor has its own efficiency, and the riser pipe's
friction grows with Q² (Darcy–Weisbach with a constant friction factor). The system asks for
static depth + drawdown + outlet height + outlet pressure + friction. Solving both for Q gives the
operating point, and from it the electrical power: P = ρ·g·Q·H / (η_p · η_motor). So when the
water table falls the pump moves left on its curve: less water, a different efficiency, a
different power, and k = Q / P changes the way a real pump's does, not as 367.1·η/H with a
constant η (the accounting's model is never used here).

The default pump is ILLUSTRATIVE, not a maker's data sheet (none was at hand offline): a
200QJ-class 11 kW multistage well pump rated 30 m³/h at 72 m, with a shut-off head 1.33 × the
rated head, 70 % best hydraulic efficiency and an 82 % wet motor, figures of the order such
catalogues give. Replace them with the installed pump's published curve to study a real well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GRAVITY = 9.80665  # m/s²
WATER_DENSITY = 1000.0  # kg/m³
MIN_EFFICIENCY = 0.05  # a pump far off its curve still turns some power into water


@dataclass(frozen=True)
class PumpCurve:
    """The pump set's published figures and its riser pipe (illustrative defaults)."""

    shutoff_head_m: float = 96.0  # H0: head at zero flow
    rated_flow_m3h: float = 30.0  # a point of the curve: the rated duty
    rated_head_m: float = 72.0
    best_flow_m3h: float = 30.0  # best-efficiency point
    best_efficiency: float = 0.70  # hydraulic efficiency there
    motor_efficiency: float = 0.82
    riser_length_m: float = 90.0  # the pump's setting depth: the riser it pushes through
    riser_diameter_m: float = 0.1
    riser_friction_factor: float = 0.025  # Darcy f of a used steel riser, taken constant
    outlet_pressure_m: float = 3.0  # pressure kept at the outlet (pipe network, valves)

    def __post_init__(self) -> None:
        if not 0 < self.rated_head_m < self.shutoff_head_m:
            raise ValueError(f"rated head must be in (0, shut-off head {self.shutoff_head_m}), "
                             f"got {self.rated_head_m}")
        for name in ("rated_flow_m3h", "best_flow_m3h", "riser_length_m", "riser_diameter_m"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("best_efficiency", "motor_efficiency"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")

    @property
    def curve_a(self) -> float:
        """a of H = H0 − a·Q² through the rated point, m per (m³/h)²."""
        return (self.shutoff_head_m - self.rated_head_m) / self.rated_flow_m3h ** 2

    @property
    def friction_r(self) -> float:
        """r of the riser's friction head r·Q², m per (m³/h)²: f · L/D · v²/2g."""
        area = math.pi * (self.riser_diameter_m / 2) ** 2
        per_flow = 1.0 / (3600.0 * area)  # v in m/s per m³/h
        return (self.riser_friction_factor * self.riser_length_m / self.riser_diameter_m
                * per_flow ** 2 / (2 * GRAVITY))

    def pump_head_m(self, flow_m3h: float) -> float:
        return self.shutoff_head_m - self.curve_a * flow_m3h ** 2

    def pump_efficiency(self, flow_m3h: float) -> float:
        x = flow_m3h / self.best_flow_m3h
        return max(self.best_efficiency * (2 * x - x * x), MIN_EFFICIENCY)


@dataclass(frozen=True)
class OperatingPoint:
    """Where the pump runs: flow, the head it makes, the riser's friction, electrical power."""

    flow_m3h: float
    pump_head_m: float  # total head the pump delivers = the system's need at this flow
    friction_m: float
    power_kw: float  # electrical input

    @property
    def coefficient(self) -> float:
        """k = Q / P in m³/kWh (0 when nothing flows)."""
        return self.flow_m3h / self.power_kw if self.power_kw > 0 else 0.0


def operating_point(curve: PumpCurve, lift_m: float) -> OperatingPoint:
    """The intersection of the pump curve with the system curve lift + outlet pressure + r·Q².

    `lift_m` is the static lift: depth to the pumping water level + outlet height. A lift the
    pump cannot reach gives no flow (the pump churns at shut-off: its power at a tenth of the
    best point's flow, as a churning pump still draws)."""
    static = lift_m + curve.outlet_pressure_m
    spare = curve.shutoff_head_m - static
    if spare <= 0:
        churn = 0.1 * curve.best_flow_m3h
        power = _power_kw(curve, churn, curve.pump_head_m(churn))
        return OperatingPoint(0.0, curve.shutoff_head_m, 0.0, power)
    flow = math.sqrt(spare / (curve.curve_a + curve.friction_r))
    head = curve.pump_head_m(flow)
    return OperatingPoint(flow, head, curve.friction_r * flow ** 2, _power_kw(curve, flow, head))


def _power_kw(curve: PumpCurve, flow_m3h: float, head_m: float) -> float:
    hydraulic_kw = WATER_DENSITY * GRAVITY * flow_m3h / 3600.0 * head_m / 1000.0
    return hydraulic_kw / (curve.pump_efficiency(flow_m3h) * curve.motor_efficiency)
