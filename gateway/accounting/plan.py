"""What accounting reads and how, resolved once from the config and the device profiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.accounting.calibration import CalibrationParams
from gateway.accounting.coefficient import FIXED, Coefficient, CoefficientBook, HeadParameters
from gateway.accounting.counters import CounterParams
from gateway.accounting.groundwater import LevelSettings
from gateway.accounting.health_rules import (
    BackwardsThresholds,
    DriftThresholds,
    PowerFlowThresholds,
    StatusThresholds,
    StuckThresholds,
)
from gateway.accounting.khead import FitSettings, StandardK
from gateway.accounting.periods import METERED, AllocationParams
from gateway.accounting.recalibration import RecalibrationThresholds
from gateway.accounting.water_plan import PlanSettings, YearPlan, even_shares
from gateway.coefficient_tables import load_table, table_path
from gateway.config import (
    AccountingSection,
    CalibrationSection,
    CoefficientEntry,
    DriftSection,
    HeadSection,
    PowerFlowSection,
    PumpControlSection,
)
from gateway.point_values import wrap_and_resolution
from gateway.profiles import Dlt645Point, ModbusPoint
from gateway.units import from_base

VOLUME_POINT = "forward_total"
ENERGY_POINT = "import_energy"
LEVEL_POINT = "level"
FLOAT_JITTER = 0.01  # a float total's noise when its profile states no resolution (2 decimals)


def to_base(value: float, unit: str) -> float:
    """A value in `unit` in accounting's base units (m³, kWh, kW, m³/h, m): 1500 W → 1.5."""
    return value / from_base(1.0, unit)


@dataclass(frozen=True)
class Totaliser:
    """One totaliser accounting counts: device, point, its unit and how it may move."""

    device: str
    point: str
    unit: str
    params: CounterParams


@dataclass(frozen=True)
class AccountingPlan:
    """Everything the engine needs, with no reference back to the config."""

    time_zone: str
    interval_s: int
    evaluate_every_s: float
    volume: Totaliser | None  # the flow meter's forward_total (metered source)
    energy: Totaliser | None  # the pump's import_energy (以电折水 source)
    flow_device: str | None
    energy_device: str | None
    level_device: str | None
    head: HeadParameters | None
    head_model: str
    book: CoefficientBook
    allocation: AllocationParams | None
    counting_source: str  # METERED or DERIVED: which counts against the allocation
    devices: tuple[str, ...]
    power_flow: PowerFlowThresholds | None
    backwards: BackwardsThresholds | None
    stuck: StuckThresholds | None
    status: StatusThresholds | None
    drift: DriftThresholds | None
    offline: tuple[float, float] | None  # (raise after, clear after) seconds
    clock: tuple[float, float] | None
    clock_check_every_s: float
    pump_control: PumpControlSection = field(default_factory=PumpControlSection)
    units: dict[tuple[str, str], str] = field(default_factory=dict)  # (device, point) → unit
    fit: FitSettings = field(default_factory=FitSettings)  # k(H) over calibration heads
    standard: StandardK | None = None  # the bureau's k until the well is calibrated
    recalibration: RecalibrationThresholds | None = None  # the calibration_due rule
    plans: PlanSettings = field(default_factory=PlanSettings)  # 计划用水 by year
    groundwater: tuple[LevelSettings, ...] = ()  # static level, cycles, the control level
    # the reading that says the pump runs (device, point) and from what value on (kW or m³/h)
    pump_running: tuple[tuple[str | None, str], float] = ((None, "active_power"), 0.5)

    @property
    def head_max_age_s(self) -> float:
        """A level reading older than this gives no head for an energy interval."""
        return max(600.0, 3 * self.evaluate_every_s)

    def window_s(self) -> dict[str, float]:
        """How far back each series must reach."""
        pf = self.power_flow.window_s if self.power_flow else 0.0
        stuck = self.stuck.window_s if self.stuck else 0.0
        back = self.backwards.window_s if self.backwards else 0.0
        control = self.pump_control
        pump = control.confirm_within_s + 2 * self.evaluate_every_s if control.enabled else 0.0
        recal = self.recalibration.window_s if self.recalibration and self.head else 0.0
        return {
            "power": max(pf, pump, recal + 600 if recal else 0.0),
            "flow": max(pf, stuck),
            "volume": max(back, stuck),
            "energy": back,
            "depth": max(self.head_max_age_s, recal),
            "pipe": self.status.window_s if self.status else 0.0,
            "error": self.status.window_s if self.status else 0.0,
            "metered": self.drift.window_s if self.drift else 0.0,
            "derived": self.drift.window_s if self.drift else 0.0,
        }


# --- the config's tables as the accounting core's parameters ------------------------------------


def head_parameters(head: HeadSection) -> HeadParameters:
    return HeadParameters(head.sensor_depth_m, head.outlet_height_m, head.friction_head_m,
                          head.model, head.max_head_ratio)


def coefficient_of(entry: CoefficientEntry) -> Coefficient:
    return Coefficient(entry.version, entry.value_m3_per_kwh, entry.valid_from.timestamp(),
                       entry.method, entry.source, entry.efficiency, entry.calibration_head_m,
                       entry.uncertainty_m3_per_kwh)


def power_flow_thresholds(section: PowerFlowSection) -> PowerFlowThresholds:
    return PowerFlowThresholds(**section.model_dump(exclude={"enabled"}))


def drift_thresholds(section: DriftSection) -> DriftThresholds:
    return DriftThresholds(**section.model_dump(exclude={"enabled"}))


RECALIBRATION_KEYS = {"retest_after_days", "retest_level_change_m"}
MANUAL_KEYS = {"manual_reading_resolution_m3", "manual_timing_uncertainty_s"}


def calibration_params(section: CalibrationSection) -> CalibrationParams:
    return CalibrationParams(**section.model_dump(
        exclude={"reference_device"} | RECALIBRATION_KEYS | MANUAL_KEYS))


def standard_k(acc: AccountingSection) -> StandardK | None:
    """The bureau's table's k for this well ([well.accounting.standard]), if one is named."""
    if acc.standard is None:
        return None
    table = load_table(table_path(acc.standard.table))
    entry = table.lookup(acc.standard.area, acc.rated_power_kw, acc.standard.depth_m)
    if entry is None:
        raise ValueError(f"table {table.name!r} has no entry for area {acc.standard.area!r}, "
                         f"{acc.rated_power_kw:g} kW, depth {acc.standard.depth_m:g} m")
    source = (f"table {table.name!r} ({table.source}), area {entry.area}, "
              f"{entry.power_kw[0]:g}-{entry.power_kw[1]:g} kW, depth "
              f"{entry.depth_m[0]:g}-{entry.depth_m[1]:g} m")
    return StandardK(entry.k_m3_per_kwh, entry.k_m3_per_kwh * table.uncertainty_percent / 100,
                     source)


def recalibration_thresholds(acc: AccountingSection) -> RecalibrationThresholds | None:
    due = acc.alarms.calibration_due
    if not due.enabled or acc.head is None:
        return None
    return RecalibrationThresholds(
        acc.calibration.retest_after_days, acc.calibration.retest_level_change_m,
        acc.head.extrapolation_margin_m, acc.alarms.power_flow.running_power_kw, due.window_s,
        due.raise_after_s, due.clear_after_s)


def plan_settings(acc: AccountingSection) -> PlanSettings:
    """[well.accounting.plan] as the core's settings (the defaults without one)."""
    section = acc.plan
    if section is None:
        return PlanSettings()
    years = tuple(YearPlan(y.year, y.annual_m3, y.period,
                           tuple(y.shares_m3) if y.shares_m3 is not None
                           else even_shares(y.annual_m3, y.period), y.source)
                  for y in section.years)
    return PlanSettings(tuple(section.thresholds_percent),
                        tuple(section.period_thresholds_percent), years)


def level_settings(acc: AccountingSection, level: str | None) -> tuple[LevelSettings, ...]:
    """[[well.accounting.groundwater]]; without it, alarms.level.control_depth_m (the older
    key) on the level sensor at the head table's depth."""
    lv = acc.alarms.level
    head_depth = acc.head.sensor_depth_m if acc.head is not None else None
    out = []
    for entry in acc.groundwater:
        device, depth = entry.device or level, entry.sensor_depth_m or head_depth
        if device is None or depth is None:  # the config's rules have said so
            continue
        out.append(LevelSettings(device, depth, entry.wellhead_elevation_m,
                                 entry.control_depth_m, entry.hysteresis_m,
                                 entry.static_settle_min * 60.0, lv.raise_after_s,
                                 lv.clear_after_s))
    if not acc.groundwater and lv.control_depth_m is not None and level and head_depth:
        out.append(LevelSettings(level, head_depth, None, lv.control_depth_m, lv.hysteresis_m,
                                 raise_after_s=lv.raise_after_s, clear_after_s=lv.clear_after_s))
    return tuple(out)


def _first_with(config: Any, role: str, point: str) -> str | None:
    for device in config.devices:
        if config.effective_role(device) == role and point in {
                p.name for p in config.effective_points(device)}:
            return device.name
    return None


def _point(config: Any, device: str | None, name: str) -> ModbusPoint | Dlt645Point | None:
    if device is None:
        return None
    return next((p for p in config.effective_points(device) if p.name == name), None)


def _totaliser(config: Any, device: str | None, name: str, rate_per_h: float,
               margin: float) -> Totaliser | None:
    point = _point(config, device, name)
    if point is None or device is None:
        return None
    wrap, count = wrap_and_resolution(point)
    unit_factor = from_base(1.0, point.unit)  # base-unit rate in the point's unit
    # a fall within the register's resolution is noise: the profile's, else one count, else
    # (a float total) two decimals
    jitter = point.resolution or count or FLOAT_JITTER
    params = CounterParams(rate_per_h * unit_factor, wrap, margin, count, jitter)
    return Totaliser(device, name, point.unit, params)


def build_plan(config: Any, accounting: AccountingSection | None = None) -> AccountingPlan:
    """The plan of a loaded GatewayConfig (its [well.accounting] table unless one is given)."""
    acc = accounting or config.well.accounting
    if acc is None:
        raise ValueError("the config has no [well.accounting] table")
    flow = acc.flow_meter or _first_with(config, "flow", VOLUME_POINT)
    energy = acc.energy_meter or _first_with(config, "energy", ENERGY_POINT)
    level = acc.level_sensor or _first_with(config, "level", LEVEL_POINT)
    volume = _totaliser(config, flow, VOLUME_POINT, acc.pump_capacity_m3h, acc.spike_margin)
    energy_total = _totaliser(config, energy, ENERGY_POINT, acc.rated_power_kw, acc.spike_margin)
    book = CoefficientBook(coefficient_of(entry) for entry in acc.coefficients)
    alarms = acc.alarms
    head = head_parameters(acc.head) if acc.head is not None else None
    allocation = None
    if acc.allocation is not None:
        allocation = AllocationParams(acc.allocation.annual_m3,
                                      tuple(acc.allocation.thresholds_percent))
    source = acc.allocation.source if acc.allocation is not None else "auto"
    counting = (METERED if volume is not None else "derived") if source == "auto" else source
    has_power = _point(config, energy, "active_power") is not None
    has_flow = _point(config, flow, "flow_rate") is not None
    status_points = [n for n in ("pipe_status", "error_code") if _point(config, flow, n)]
    flags: dict[int, str] = {}
    error_point = _point(config, flow, "error_code")
    if isinstance(error_point, ModbusPoint):
        flags = {int(bit): text for bit, text in error_point.flags.items()}
    units = {}
    for device in config.devices:
        for point in config.effective_points(device):
            units[(device.name, point.name)] = point.unit
    return AccountingPlan(
        time_zone=config.well.timezone,
        interval_s=acc.interval_s,
        evaluate_every_s=acc.evaluate_every_s,
        volume=volume,
        energy=energy_total,
        flow_device=flow if volume is not None or has_flow else None,
        energy_device=energy if energy_total is not None or has_power else None,
        level_device=level,
        head=head,
        head_model=head.model if head is not None else FIXED,
        book=book,
        allocation=allocation,
        counting_source=counting,
        devices=tuple(device.name for device in config.devices),
        power_flow=(power_flow_thresholds(alarms.power_flow) if alarms.power_flow.enabled
                    and has_power and has_flow else None),
        backwards=(BackwardsThresholds(alarms.totaliser_backwards.tolerance, None, 0.01,
                                       alarms.totaliser_backwards.window_s,
                                       alarms.totaliser_backwards.raise_after_s,
                                       alarms.totaliser_backwards.clear_after_s)
                   if alarms.totaliser_backwards.enabled else None),
        stuck=(StuckThresholds(
            alarms.totaliser_stuck.flowing_m3h, alarms.totaliser_stuck.stuck_fraction,
            alarms.totaliser_stuck.clear_fraction,
            max(volume.params.count_resolution, 0.01) if volume else 0.01,
            alarms.totaliser_stuck.min_expected_counts, alarms.totaliser_stuck.window_s,
            alarms.totaliser_stuck.raise_after_s, alarms.totaliser_stuck.clear_after_s)
            if alarms.totaliser_stuck.enabled and volume is not None and has_flow else None),
        status=(StatusThresholds(tuple(alarms.meter_status.empty_values),
                                 alarms.meter_status.error_mask, flags,
                                 alarms.meter_status.window_s, alarms.meter_status.raise_after_s,
                                 alarms.meter_status.clear_after_s)
                if alarms.meter_status.enabled and status_points else None),
        drift=(drift_thresholds(alarms.drift) if alarms.drift.enabled and volume is not None
               and energy_total is not None else None),
        offline=((alarms.offline.raise_after_s, alarms.offline.clear_after_s)
                 if alarms.offline.enabled else None),
        clock=((alarms.clock.raise_after_s, alarms.clock.clear_after_s)
               if alarms.clock.enabled else None),
        clock_check_every_s=alarms.clock.check_every_s,
        pump_control=config.well.pump_control,
        units=units,
        fit=(FitSettings(acc.head.head_band_m, acc.head.extrapolation_margin_m)
             if acc.head is not None else FitSettings()),
        standard=standard_k(acc),
        recalibration=recalibration_thresholds(acc),
        plans=plan_settings(acc),
        groundwater=level_settings(acc, level),
        pump_running=(((energy, "active_power"), alarms.power_flow.running_power_kw) if has_power
                      else ((flow, "flow_rate"), alarms.totaliser_stuck.flowing_m3h)),
    )


def describe_plan(config: Any) -> list[str]:
    """What accounting will do, for `wellgate check-config` (nothing without [well.accounting])."""
    if config.well.accounting is None:
        return []
    plan = build_plan(config)
    metered = (f"metered from {plan.volume.device} {plan.volume.point}" if plan.volume
               else "no flow meter")
    versions = ", ".join(f"v{c.version} {c.value_m3_per_kwh:g} m³/kWh"
                         for c in plan.book.versions) or "no coefficient yet: wellgate calibrate"
    derived = (f"derived from {plan.energy.device} {plan.energy.point} ({versions}; head "
               f"model {plan.head_model})" if plan.energy else "no energy meter")
    lines = [f"accounting: {metered}; {derived}; intervals of {plan.interval_s} s"]
    if plan.standard is not None:
        lines.append(f"before a calibration: standard k {plan.standard.k_m3_per_kwh:g} m³/kWh "
                     f"from {plan.standard.source}")
    if plan.allocation is not None:
        lines.append(f"allocation {plan.allocation.annual_allocation_m3:g} m³/year counted from "
                     f"{plan.counting_source} volume, warnings at "
                     + ", ".join(f"{t:g} %" for t in plan.allocation.thresholds_percent))
    plans = plan.plans
    lines.append("water plan: " + (", ".join(f"{y.year} {y.annual_m3:g} m³ by {y.period}"
                                            for y in plans.years) or "none configured")
                 + " (more by `wellgate plan set`); warnings at "
                 + ", ".join(f"{t:g} %" for t in plans.thresholds_percent) + " of the year, "
                 + (", ".join(f"{t:g} %" for t in plans.period_thresholds_percent) or "none")
                 + " of the period")
    for level in plan.groundwater:
        lines.append(f"groundwater {level.device}: sensor {level.sensor_depth_m:g} m below the "
                     f"datum, static after {level.settle_s / 60:g} min off, control level "
                     + ("none" if level.control_depth_m is None else
                        f"{level.control_depth_m:g} m"))
    control = plan.pump_control
    state = ("off" if not control.enabled else "DRY RUN (records only)" if control.dry_run
             else f"ON: coil {control.coil} of {control.relay_device}")
    lines.append(f"pump control (以电控水): {state}")
    return lines
