"""Physics of one pumped well: pump duty cycle, head-dependent flow, drawdown, grid and totals."""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, replace

from gateway.simulator.pump_curve import PumpCurve, operating_point

# k = 3.6e6 · η / (ρ · g · H) m³/kWh with ρ = 1000 kg/m³, g = 9.80665 m/s² (shared/domain/water.md).
HYDRAULIC_CONSTANT = 3.6e6 / (1000.0 * 9.80665)  # ≈ 367.1


@dataclass(frozen=True)
class WellParams:
    """What the simulated well and pump set are like; every value can be overridden."""

    pump_rated_kw: float = 7.5  # electrical input power while running
    efficiency: float = 0.45  # wire-to-water efficiency η
    static_depth_m: float = 30.0  # depth to the resting water level below ground
    outlet_height_m: float = 2.0  # outlet above ground
    friction_head_m: float = 3.0  # pressure and friction head at the outlet
    specific_capacity: float = 5.0  # m³/h of flow per metre of drawdown at equilibrium
    drawdown_tau_s: float = 900.0  # time constant of drawdown and of recovery
    sensor_depth_m: float = 80.0  # depth of the level transmitter below ground
    on_seconds: float = 1800.0  # pump duty cycle: running time ...
    off_seconds: float = 1800.0  # ... then stopped time, repeating from t = 0 (running first)
    pipe_diameter_m: float = 0.1  # DN100: velocity = flow / pipe area
    phase_voltage_v: float = 220.0  # nominal phase voltage (line voltage = √3 × this)
    running_power_factor: float = 0.86
    grid_frequency_hz: float = 50.0
    step_s: float = 1.0  # integration grid; values are identical whatever the call pattern
    # A pump on its curve (pump_curve.py): flow, head and power from the operating point, so k
    # varies with head as a real pump's does. None: the simple pump set above (constant power
    # pump_rated_kw and constant efficiency, k = 367.1·η/H: the accounting's own model).
    curve: PumpCurve | None = None


# The demo's well: a pump on its curve (pump_curve.py's illustrative 11 kW pump) 52 m above the
# water, its outlet 2 m above ground and 3 m of pressure kept at the outlet.
CURVE_WELL = WellParams(curve=PumpCurve(outlet_pressure_m=3.0), static_depth_m=52.0,
                        outlet_height_m=2.0, friction_head_m=0.0, pump_rated_kw=11.0)


@dataclass(frozen=True)
class WellState:
    """The integrated state on the grid: the only things that carry history."""

    time_s: float = 0.0  # simulated seconds since the start
    energy_kwh: float = 0.0  # pump energy since the start
    volume_m3: float = 0.0  # pumped volume since the start
    drawdown_m: float = 0.0  # current drawdown below the static level


@dataclass(frozen=True)
class Snapshot:
    """Every physical quantity at one simulated instant, in base units (kW, kWh, m³, m³/h, m, V)."""

    time_s: float
    pump_on: bool
    power_kw: float
    head_m: float
    coefficient_m3_per_kwh: float  # k = flow / power (stopped: the simple model's 367.1·η/H)
    flow_m3h: float
    velocity_ms: float
    energy_kwh: float
    volume_m3: float
    drawdown_m: float
    depth_to_water_m: float
    level_m: float  # water above the level sensor
    phase_voltages_v: tuple[float, float, float]
    power_factor: float
    frequency_hz: float


class _Wobble:
    """Small smooth deterministic variation: a sum of seeded sines of simulated time, in ±1."""

    def __init__(self, rng: random.Random) -> None:
        self._terms = [
            (
                rng.uniform(0.3, 1.0),
                2 * math.pi / rng.uniform(20.0, 600.0),
                rng.uniform(0, 2 * math.pi),
            )
            for _ in range(3)
        ]
        self._norm = sum(amplitude for amplitude, _, _ in self._terms)

    def __call__(self, t: float) -> float:
        return sum(a * math.sin(w * t + phase) for a, w, phase in self._terms) / self._norm


class WellPhysics:
    """Integrates the well on a fixed time grid; `at(t)` gives the snapshot at any later time."""

    def __init__(self, params: WellParams | None = None, seed: int = 0) -> None:
        self.params = params or WellParams()
        if self.params.step_s <= 0:
            raise ValueError(f"step_s must be > 0, got {self.params.step_s}")
        if self.params.on_seconds < 0 or self.params.off_seconds < 0:
            raise ValueError(
                f"pump on/off durations must be >= 0, got {self.params.on_seconds}"
                f"/{self.params.off_seconds}"
            )
        rng = random.Random(f"well-physics:{seed}")
        self._power_wobble = _Wobble(rng)
        self._pf_wobble = _Wobble(rng)
        self._frequency_wobble = _Wobble(rng)
        self._voltage_wobbles = [_Wobble(rng) for _ in range(3)]
        self._voltage_offsets = [rng.uniform(-0.01, 0.01) for _ in range(3)]
        self.state = WellState()
        self.forced_pump: bool | None = None  # None = follow the duty cycle
        self._lock = threading.RLock()  # the well is read from its loop thread and from tests

    # -- the pump ---------------------------------------------------------------------------------
    def pump_on(self, t: float) -> bool:
        """Whether the pump runs at simulated time t (duty cycle unless forced)."""
        if self.forced_pump is not None:
            return self.forced_pump
        p = self.params
        if p.on_seconds == 0 or p.off_seconds == 0:
            return p.on_seconds > 0
        return (t % (p.on_seconds + p.off_seconds)) < p.on_seconds

    def _next_switch(self, t: float) -> float:
        """The next duty-cycle switching time strictly after t (inf if it never switches)."""
        p = self.params
        period = p.on_seconds + p.off_seconds
        if self.forced_pump is not None or p.on_seconds == 0 or p.off_seconds == 0:
            return math.inf
        base = t - (t % period)
        for edge in (base + p.on_seconds, base + period, base + period + p.on_seconds):
            if edge > t:
                return edge
        return math.inf

    # -- instantaneous quantities -----------------------------------------------------------------
    def operating(self, t: float, on: bool, drawdown_m: float) -> tuple[float, float, float]:
        """(electrical power kW, flow m³/h, total head m) of the pump at time t."""
        p = self.params
        if not on:
            return 0.0, 0.0, self.head_m(drawdown_m)
        wobble = 1.0 + 0.01 * self._power_wobble(t)
        if p.curve is None:
            power = p.pump_rated_kw * wobble
            return power, power * self.coefficient(drawdown_m), self.head_m(drawdown_m)
        point = operating_point(p.curve, p.static_depth_m + drawdown_m + p.outlet_height_m)
        return point.power_kw * wobble, point.flow_m3h, point.pump_head_m

    def power_kw(self, t: float, on: bool, drawdown_m: float = 0.0) -> float:
        return self.operating(t, on, drawdown_m)[0]

    def head_m(self, drawdown_m: float) -> float:
        """The simple model's total head (the curve's own is in `operating`)."""
        p = self.params
        return p.static_depth_m + drawdown_m + p.outlet_height_m + p.friction_head_m

    def coefficient(self, drawdown_m: float) -> float:
        """The simple model's k(H) in m³/kWh."""
        return HYDRAULIC_CONSTANT * self.params.efficiency / self.head_m(drawdown_m)

    def flow_m3h(self, t: float, on: bool, drawdown_m: float) -> float:
        return self.operating(t, on, drawdown_m)[1]

    # -- integration ------------------------------------------------------------------------------
    def _step(self, state: WellState, dt: float) -> WellState:
        """Advance by dt within which the pump state does not change."""
        if dt <= 0:
            return state
        t0, t1 = state.time_s, state.time_s + dt
        on = self.pump_on(t0)
        q0 = self.flow_m3h(t0, on, state.drawdown_m)
        target = q0 / self.params.specific_capacity if on else 0.0
        decay = math.exp(-dt / self.params.drawdown_tau_s)
        drawdown = target + (state.drawdown_m - target) * decay
        q1 = self.flow_m3h(t1, on, drawdown)
        p0, p1 = self.power_kw(t0, on, state.drawdown_m), self.power_kw(t1, on, drawdown)
        return WellState(
            time_s=t1,
            energy_kwh=state.energy_kwh + (p0 + p1) / 2 * dt / 3600.0,
            volume_m3=state.volume_m3 + (q0 + q1) / 2 * dt / 3600.0,
            drawdown_m=drawdown,
        )

    def _integrate(self, state: WellState, t: float) -> WellState:
        """Integrate from state to time t, splitting at pump switches."""
        while state.time_s < t:
            end = min(t, self._next_switch(state.time_s))
            state = self._step(state, end - state.time_s)
        return state

    def advance_to(self, t: float) -> None:
        """Commit the grid state up to the last grid point at or before t (earlier t: no change)."""
        step = self.params.step_s
        with self._lock:
            while self.state.time_s + step <= t:
                self.state = self._integrate(self.state, self.state.time_s + step)

    def change(self, t: float, overrides: dict[str, float]) -> None:
        """New parameters from time t on (the state so far is integrated with the old ones)."""
        params = with_overrides(self.params, overrides)
        with self._lock:
            self.advance_to(t)
            self.state = self._integrate(self.state, t)
            self.params = params

    def set_pump(self, on: bool | None, t: float) -> None:
        """Force the pump on/off from time t (None = back to the duty cycle)."""
        with self._lock:
            self.advance_to(t)
            self.state = self._integrate(self.state, t)  # the grid restarts at the switch
            self.forced_pump = on

    def at(self, t: float) -> Snapshot:
        """The snapshot at simulated time t.

        A t before the committed grid time (another thread's clock reading that lost the race for
        the lock) gets the committed state: simulated time never runs backwards.
        """
        with self._lock:
            self.advance_to(t)
            state = self._integrate(self.state, t)
        return self._snapshot(state)

    def _snapshot(self, state: WellState) -> Snapshot:
        p = self.params
        t = state.time_s
        on = self.pump_on(t)
        power, flow, head = self.operating(t, on, state.drawdown_m)
        k = flow / power if power > 0 else self.coefficient(state.drawdown_m)
        area = math.pi * (p.pipe_diameter_m / 2) ** 2
        depth = p.static_depth_m + state.drawdown_m
        # Phase voltage sags about 1.5 % under load.
        sag = 0.985 if on else 1.0
        voltages = tuple(
            p.phase_voltage_v * sag * (1 + offset + 0.004 * wobble(t))
            for offset, wobble in zip(self._voltage_offsets, self._voltage_wobbles, strict=True)
        )
        return Snapshot(
            time_s=t,
            pump_on=on,
            power_kw=power,
            head_m=head,
            coefficient_m3_per_kwh=k,
            flow_m3h=flow,
            velocity_ms=flow / 3600.0 / area,
            energy_kwh=state.energy_kwh,
            volume_m3=state.volume_m3,
            drawdown_m=state.drawdown_m,
            depth_to_water_m=depth,
            level_m=p.sensor_depth_m - depth,
            phase_voltages_v=voltages,  # type: ignore[arg-type]
            power_factor=p.running_power_factor * (1 + 0.01 * self._pf_wobble(t)) if on else 1.0,
            frequency_hz=p.grid_frequency_hz + 0.03 * self._frequency_wobble(t),
        )


def with_overrides(params: WellParams, overrides: dict[str, float]) -> WellParams:
    """WellParams with some fields replaced, rejecting unknown names."""
    known = set(WellParams.__dataclass_fields__)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown well parameter(s) {unknown}; known: {sorted(known)}")
    return replace(params, **overrides)
