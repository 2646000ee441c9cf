"""The [well.accounting] and [well.pump_control] config tables: every default in the schema.

Threshold defaults are the pure core's own (health_rules, calibration), read from its dataclasses
so the two never disagree. Cross-field rules that need the devices (which meter is which, what
their profiles have) are in `accounting_problems`, run by load_config.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator

from gateway.accounting.calibration import CalibrationParams
from gateway.accounting.coefficient import (
    HEAD_MODELS,
    HEAD_RATIO,
    METHODS,
    Coefficient,
    HeadParameters,
)
from gateway.accounting.health_rules import (
    BackwardsThresholds,
    DriftThresholds,
    LevelThresholds,
    PowerFlowThresholds,
    StatusThresholds,
    StuckThresholds,
)
from gateway.errors import Problem, one_of

ALLOCATION_SOURCES = ("auto", "metered", "derived")
SECONDS_PER_DAY = 86_400


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _aware_datetime(value: Any) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    raise ValueError("a TOML date-time with its offset, e.g. 2025-03-01T00:00:00+08:00")


AwareDatetime = Annotated[
    datetime,
    PlainValidator(_aware_datetime),
    Field(description="a TOML date-time with its offset, e.g. 2025-03-01T00:00:00+08:00"),
]


def _seconds(default: float, low: float, high: float, what: str) -> Any:
    return Field(default=default, ge=low, le=high, description=f"{what}, seconds {low:g}..{high:g}")


class HeadSection(_Section):
    """How the total pumping head follows from the level transmitter (water.md's model)."""

    sensor_depth_m: float = Field(
        gt=0, le=2000, description="depth of the level transmitter below ground, metres 0..2000"
    )
    outlet_height_m: float = Field(
        default=0.0, ge=0, le=200, description="height of the outlet above ground, metres 0..200"
    )
    friction_head_m: float = Field(
        default=0.0, ge=0, le=500,
        description="pressure and friction head at the outlet, taken as constant, metres 0..500",
    )
    model: Literal["fixed", "head_ratio", "efficiency"] = Field(
        default=HEAD_RATIO,
        description=one_of(HEAD_MODELS) + " (fixed: k as calibrated; head_ratio: "
        "k·H_cal/H; efficiency: 367.1·η/H)",
    )
    max_head_ratio: float = Field(
        default=1.5, gt=1, le=10,
        description="a head beyond H_cal times or divided by this is taken as a sensor fault "
        "(no correction), more than 1 and at most 10",
    )

    def params(self) -> HeadParameters:
        return HeadParameters(self.sensor_depth_m, self.outlet_height_m, self.friction_head_m,
                              self.model, self.max_head_ratio)


class CoefficientEntry(_Section):
    """One version of the well's 以电折水 coefficient k (m³/kWh) as the installer was given it."""

    version: int = Field(ge=1, le=1_000_000, description="an integer 1..1000000, unique")
    value_m3_per_kwh: float = Field(gt=0, le=1000, description="k in m³/kWh, more than 0")
    valid_from: AwareDatetime
    method: Literal["calibration", "manual", "imported"] = Field(
        default="manual", description=one_of(METHODS)
    )
    source: str = Field(
        min_length=1,
        description='where k comes from, e.g. "county water bureau notice 2024-17"',
    )
    efficiency: float | None = Field(
        default=None, gt=0, le=1, description="the calibrated wire-to-water efficiency η, 0..1"
    )
    calibration_head_m: float | None = Field(
        default=None, gt=0, le=2000, description="the head k was measured at (H_cal), metres"
    )
    uncertainty_m3_per_kwh: float | None = Field(
        default=None, ge=0, description="the expanded uncertainty of k (coverage factor 2)"
    )

    def coefficient(self) -> Coefficient:
        return Coefficient(self.version, self.value_m3_per_kwh, self.valid_from.timestamp(),
                           self.method, self.source, self.efficiency, self.calibration_head_m,
                           self.uncertainty_m3_per_kwh)


class AllocationSection(_Section):
    """The well's annual allocation (取用水总量控制指标) and the warning thresholds."""

    annual_m3: float = Field(gt=0, le=1e9, description="cubic metres per local calendar year")
    thresholds_percent: list[Annotated[float, Field(gt=0, le=1000)]] = Field(
        default=[80.0, 100.0], min_length=1,
        description="a list of percentages of the allocation, each more than 0 and at most 1000",
    )
    source: Literal["auto", "metered", "derived"] = Field(
        default="auto",
        description=one_of(ALLOCATION_SOURCES) + " (auto: the flow meter where the well has "
        "one, else 以电折水)",
    )


class PowerFlowSection(_Section):
    """Power without flow, and flow without power (thresholds shared by both alarms)."""

    enabled: bool = Field(default=True, description="true or false")
    running_power_kw: float = Field(default=PowerFlowThresholds.running_power_kw, gt=0,
                                    description="kW at or above which the pump runs, more than 0")
    stopped_power_kw: float = Field(default=PowerFlowThresholds.stopped_power_kw, ge=0,
                                    description="kW at or below which the pump is stopped")
    flowing_m3h: float = Field(default=PowerFlowThresholds.flowing_m3h, gt=0,
                               description="m³/h at or above which water moves, more than 0")
    no_flow_m3h: float = Field(default=PowerFlowThresholds.no_flow_m3h, ge=0,
                               description="m³/h at or below which water stands still")
    window_s: float = _seconds(PowerFlowThresholds.window_s, 10, 86_400, "the window judged")
    min_samples: int = Field(default=PowerFlowThresholds.min_samples, ge=1, le=10_000,
                             description="readings of each in the window, 1..10000")
    raise_after_s: float = _seconds(PowerFlowThresholds.raise_after_s, 0, 86_400,
                                    "how long the fault must last")
    clear_after_s: float = _seconds(PowerFlowThresholds.clear_after_s, 0, 86_400,
                                    "how long normal must last")

    def thresholds(self) -> PowerFlowThresholds:
        return PowerFlowThresholds(**self.model_dump(exclude={"enabled"}))


class BackwardsSection(_Section):
    """A totaliser that goes down other than by a rollover."""

    enabled: bool = Field(default=True, description="true or false")
    tolerance: float = Field(default=BackwardsThresholds.tolerance, ge=0,
                             description="a fall up to this (the point's unit) is jitter")
    window_s: float = _seconds(BackwardsThresholds.window_s, 60, 7 * 86_400,
                               "how long a fall keeps the alarm raised")
    raise_after_s: float = _seconds(BackwardsThresholds.raise_after_s, 0, 86_400,
                                    "how long the fault must last")
    clear_after_s: float = _seconds(BackwardsThresholds.clear_after_s, 0, 86_400,
                                    "how long normal must last")


class StuckSection(_Section):
    """A totaliser standing still while the flow rate says water moves."""

    enabled: bool = Field(default=True, description="true or false")
    flowing_m3h: float = Field(default=StuckThresholds.flowing_m3h, gt=0,
                               description="the flow rate must be at least this throughout")
    stuck_fraction: float = Field(default=StuckThresholds.stuck_fraction, ge=0, lt=1,
                                  description="fault: the total rose by at most this × ∫flow dt")
    clear_fraction: float = Field(default=StuckThresholds.clear_fraction, gt=0, le=1,
                                  description="normal: it rose by at least this × ∫flow dt")
    min_expected_counts: float = Field(default=StuckThresholds.min_expected_counts, gt=0,
                                       description="judge only when ∫flow dt is this many counts")
    window_s: float = _seconds(StuckThresholds.window_s, 10, 86_400, "the window judged")
    raise_after_s: float = _seconds(StuckThresholds.raise_after_s, 0, 86_400,
                                    "how long the fault must last")
    clear_after_s: float = _seconds(StuckThresholds.clear_after_s, 0, 86_400,
                                    "how long normal must last")


class StatusSection(_Section):
    """The flow meter's own status: empty pipe and error-code bits."""

    enabled: bool = Field(default=True, description="true or false")
    empty_values: list[str] = Field(default=list(StatusThresholds.empty_values),
                                    description='pipe_status names meaning empty, e.g. ["empty"]')
    error_mask: int = Field(default=StatusThresholds.error_mask, ge=0, le=0xFFFF_FFFF,
                            description="the error_code bits that count, 0..0xFFFFFFFF")
    window_s: float = _seconds(StatusThresholds.window_s, 10, 86_400,
                               "a status older than this is stale")
    raise_after_s: float = _seconds(StatusThresholds.raise_after_s, 0, 86_400,
                                    "how long the fault must last")
    clear_after_s: float = _seconds(StatusThresholds.clear_after_s, 0, 86_400,
                                    "how long normal must last")


class DriftSection(_Section):
    """以电折水 against the flow meter, where the well has both."""

    enabled: bool = Field(default=True, description="true or false")
    raise_fraction: float = Field(default=DriftThresholds.raise_fraction, gt=0, le=10,
                                  description="|derived − metered| / metered above this: fault")
    clear_fraction: float = Field(default=DriftThresholds.clear_fraction, gt=0, le=10,
                                  description="below this: normal")
    min_volume_m3: float = Field(default=DriftThresholds.min_volume_m3, gt=0,
                                 description="judge only windows with at least this metered")
    window_s: float = _seconds(DriftThresholds.window_s, 600, 31 * 86_400, "the window judged")
    raise_after_s: float = _seconds(DriftThresholds.raise_after_s, 0, 7 * 86_400,
                                    "how long the fault must last")
    clear_after_s: float = _seconds(DriftThresholds.clear_after_s, 0, 7 * 86_400,
                                    "how long normal must last")

    def thresholds(self) -> DriftThresholds:
        return DriftThresholds(**self.model_dump(exclude={"enabled"}))


class LevelSection(_Section):
    """Groundwater level against its control level (超采区), as depth below ground."""

    control_depth_m: float | None = Field(
        default=None, gt=0, le=2000,
        description="the control level as depth to water below ground, metres (none: no alarm)",
    )
    hysteresis_m: float = Field(default=LevelThresholds.hysteresis_m, ge=0, le=100,
                                description="clear only this much shallower again, metres")
    window_s: float = _seconds(LevelThresholds.window_s, 60, 31 * 86_400,
                               "the mean is taken over this")
    min_samples: int = Field(default=LevelThresholds.min_samples, ge=1, le=100_000,
                             description="readings in the window, 1..100000")
    raise_after_s: float = _seconds(LevelThresholds.raise_after_s, 0, 7 * 86_400,
                                    "how long the fault must last")
    clear_after_s: float = _seconds(LevelThresholds.clear_after_s, 0, 7 * 86_400,
                                    "how long normal must last")


class OfflineSection(_Section):
    """A meter the acquisition declares offline ([acquisition] offline_after failed polls)."""

    enabled: bool = Field(default=True, description="true or false")
    raise_after_s: float = _seconds(0.0, 0, 86_400, "how long it must stay offline")
    clear_after_s: float = _seconds(0.0, 0, 86_400, "how long it must answer again")


class ClockSection(_Section):
    """The gateway's clock not synchronised (a Raspberry Pi has no real-time clock)."""

    enabled: bool = Field(default=True, description="true or false")
    check_every_s: float = _seconds(60.0, 1, 3600, "how often the clock state is checked")
    raise_after_s: float = _seconds(
        900.0, 0, 86_400, "how long it must stay unsynchronised (NTP needs minutes after boot)")
    clear_after_s: float = _seconds(0.0, 0, 86_400, "how long it must stay synchronised")


class AlarmsSection(_Section):
    """Meter-health alarm thresholds; the defaults are the accounting core's."""

    power_flow: PowerFlowSection = Field(default=PowerFlowSection(),
                                         description="a [well.accounting.alarms.power_flow] table")
    totaliser_backwards: BackwardsSection = Field(default=BackwardsSection(),
                                                  description="a table of backwards thresholds")
    totaliser_stuck: StuckSection = Field(default=StuckSection(),
                                          description="a table of stuck-totaliser thresholds")
    meter_status: StatusSection = Field(default=StatusSection(),
                                        description="a table of meter-status thresholds")
    drift: DriftSection = Field(default=DriftSection(), description="a table of drift thresholds")
    level: LevelSection = Field(default=LevelSection(), description="a table of level thresholds")
    offline: OfflineSection = Field(default=OfflineSection(),
                                    description="a table of offline-alarm delays")
    clock: ClockSection = Field(default=ClockSection(), description="a table of clock checks")


_CAL = CalibrationParams


class CalibrationSection(_Section):
    """`wellgate calibrate`: the reference flow meter and the rules a run must pass."""

    reference_device: str | None = Field(
        default=None, min_length=1,
        description="the temporarily installed reference flow meter (a device with "
        "forward_total), e.g. \"clamp-on\"",
    )
    min_duration_s: float = _seconds(_CAL.min_duration_s, 60, 86_400, "shortest run")
    min_energy_kwh: float = Field(default=_CAL.min_energy_kwh, gt=0,
                                  description="least energy a run must use, kWh")
    min_volume_m3: float = Field(default=_CAL.min_volume_m3, gt=0,
                                 description="least volume a run must pump, m³")
    sub_intervals: int = Field(default=_CAL.sub_intervals, ge=2, le=100,
                               description="equal-time parts for the stability check, 2..100")
    max_relative_spread: float = Field(default=_CAL.max_relative_spread, gt=0, le=1,
                                       description="allowed spread of the parts' k ÷ k, 0..1")
    min_running_fraction: float = Field(default=_CAL.min_running_fraction, gt=0, lt=1,
                                        description="each part's power ≥ this × the median")
    reference_accuracy_percent: float = Field(default=_CAL.reference_accuracy_percent, gt=0,
                                              le=20, description="the reference meter's ± %")
    energy_accuracy_percent: float = Field(default=_CAL.energy_accuracy_percent, gt=0, le=20,
                                           description="the energy meter's class, ± %")
    head_uncertainty_m: float = Field(default=_CAL.head_uncertainty_m, ge=0, le=50,
                                      description="standard uncertainty of the head, metres")
    runs_required: int = Field(default=_CAL.runs_required, ge=1, le=20,
                               description="runs to combine, 1..20")
    max_spread_between_runs: float = Field(default=_CAL.max_spread_between_runs, gt=0, le=1,
                                           description="allowed spread of the runs' k ÷ k")

    def params(self) -> CalibrationParams:
        return CalibrationParams(**self.model_dump(exclude={"reference_device"}))


class AccountingSection(_Section):
    """Water accounting of this well: which meters count, how, and against what allocation.

    Meters are named by device; left out, the first device of the matching role (flow, energy,
    level) in the file is used."""

    flow_meter: str | None = Field(
        default=None, min_length=1, description="the device whose forward_total is the legal "
        "volume (none: the first flow device; \"\" is not allowed)",
    )
    energy_meter: str | None = Field(
        default=None, min_length=1,
        description="the pump's energy meter, a device with import_energy",
    )
    level_sensor: str | None = Field(
        default=None, min_length=1, description="the well's level transmitter, a device with level"
    )
    pump_capacity_m3h: float = Field(
        gt=0, le=100_000,
        description="the most the pump can deliver, m³/h (a larger rise is a spike: held)",
    )
    rated_power_kw: float = Field(
        gt=0, le=100_000,
        description="the pump's rated electrical power, kW (bounds the energy total's rise)",
    )
    spike_margin: float = Field(
        default=1.5, ge=1, le=10, description="a rise above capacity × time × this is a spike"
    )
    interval_s: int = Field(
        default=900, ge=10, le=SECONDS_PER_DAY,
        description="seconds per interval record (a divisor of 86400, so intervals end on "
        "local midnights), 10..86400",
    )
    evaluate_every_s: float = _seconds(30.0, 1, 3600, "how often the alarm rules are judged")
    head: HeadSection | None = Field(
        default=None, description="a [well.accounting.head] table (none: k is not corrected)"
    )
    coefficients: list[CoefficientEntry] = Field(
        default_factory=list,
        description="a list of [[well.accounting.coefficients]] tables (none: no 以电折水 "
        "until `wellgate calibrate` stores one)",
    )
    allocation: AllocationSection | None = Field(
        default=None, description="a [well.accounting.allocation] table (none: no allocation)"
    )
    alarms: AlarmsSection = Field(default=AlarmsSection(),
                                  description="a [well.accounting.alarms] table")
    calibration: CalibrationSection = Field(default=CalibrationSection(),
                                            description="a [well.accounting.calibration] table")


class PumpControlSection(_Section):
    """以电控水: stop the pump through a relay (a Modbus coil) when the allocation is used up.

    Off unless enabled = true; with dry_run = true (the default) the gateway only records what
    it would do. It never acts on a meter fault alone, and a site override suspends it."""

    enabled: bool = Field(default=False, description="true or false (default false: never acts)")
    dry_run: bool = Field(
        default=True, description="true (only record what would be done) or false (switch the "
        "relay)",
    )
    relay_device: str | None = Field(
        default=None, min_length=1, description="the device (role relay) whose coil stops the pump"
    )
    coil: int = Field(default=0, ge=0, le=0xFFFF, description="the coil's wire address 0..65535")
    coil_stops_pump: bool = Field(
        default=True, description="true: coil ON stops the pump; false: coil OFF stops it"
    )
    confirm_within_s: float = _seconds(60.0, 1, 3600, "how long the pump's power may take to fall")
    stopped_power_kw: float = Field(
        default=0.5, ge=0, le=100_000, description="kW at or below which the pump has stopped"
    )


# --- cross-field rules ------------------------------------------------------------------------

ROLE_POINTS = {"flow": "forward_total", "energy": "import_energy", "level": "level"}
Loc = tuple[str | int, ...]


def _meter_problems(accounting: AccountingSection, devices: dict[str, Any],
                    points_of: Callable[[str], list[str] | None]) -> Iterator[Problem]:
    names = sorted(devices)
    for key, point in (("flow_meter", "forward_total"), ("energy_meter", "import_energy"),
                       ("level_sensor", "level"), ):
        name = getattr(accounting, key)
        if name is None:
            continue
        loc: Loc = ("well", "accounting", key)
        if name not in devices:
            yield Problem(loc, f"the name of a device: {', '.join(names)}", name)
            continue
        have = points_of(name)
        if have is not None and point not in have:
            yield Problem(loc, f"a device that reads {point} ({name!r} reads "
                               f"{', '.join(have) or 'nothing'})", name)
    reference = accounting.calibration.reference_device
    if reference is not None:
        loc = ("well", "accounting", "calibration", "reference_device")
        have = points_of(reference) if reference in devices else None
        if reference not in devices:
            yield Problem(loc, f"the name of a device: {', '.join(names)}", reference)
        elif have is not None and "forward_total" not in have:
            yield Problem(loc, f"a flow meter that reads forward_total ({reference!r} does not)",
                          reference)
    first: dict[int, int] = {}
    for index, entry in enumerate(accounting.coefficients):
        if entry.version in first:
            yield Problem(("well", "accounting", "coefficients", index, "version"),
                          f"a version not already used by coefficients[{first[entry.version]}]",
                          entry.version)
        first.setdefault(entry.version, index)
    if SECONDS_PER_DAY % accounting.interval_s:
        yield Problem(("well", "accounting", "interval_s"),
                      "a divisor of 86400 (e.g. 60, 300, 900, 3600)", accounting.interval_s)
    alarms = accounting.alarms
    if alarms.power_flow.stopped_power_kw >= alarms.power_flow.running_power_kw:
        yield Problem(("well", "accounting", "alarms", "power_flow", "stopped_power_kw"),
                      f"less than running_power_kw ({alarms.power_flow.running_power_kw})",
                      alarms.power_flow.stopped_power_kw)
    if alarms.level.control_depth_m is not None and accounting.head is None:
        yield Problem(("well", "accounting", "alarms", "level", "control_depth_m"),
                      "a [well.accounting.head] table too (its sensor_depth_m turns the level "
                      "reading into a depth to water)", alarms.level.control_depth_m)
    if alarms.drift.clear_fraction > alarms.drift.raise_fraction:
        yield Problem(("well", "accounting", "alarms", "drift", "clear_fraction"),
                      f"at most raise_fraction ({alarms.drift.raise_fraction})",
                      alarms.drift.clear_fraction)


def accounting_problems(well: Any, devices: dict[str, Any],
                        points_of: Callable[[str], list[str] | None],
                        role_of: Callable[[str], str | None]) -> Iterator[Problem]:
    """Rules across [well.accounting], [well.pump_control] and the devices.

    devices: name → Device; points_of(name): the device's point names (None: its profile did
    not load); role_of(name): its effective role (None: unknown)."""
    accounting: AccountingSection | None = well.accounting
    control: PumpControlSection = well.pump_control
    if accounting is not None:
        yield from _meter_problems(accounting, devices, points_of)
    if not control.enabled:
        return
    loc: Loc = ("well", "pump_control")
    if accounting is None or accounting.allocation is None:
        yield Problem((*loc, "enabled"), "false, or a [well.accounting.allocation] table to "
                      "enforce (there is none)", True)
    relay = control.relay_device
    if relay is None:
        yield Problem((*loc, "relay_device"), "the name of the device (role relay) whose coil "
                      "stops the pump")
    elif relay not in devices:
        yield Problem((*loc, "relay_device"), f"the name of a device: {', '.join(sorted(devices))}",
                      relay)
    elif role_of(relay) not in (None, "relay"):
        yield Problem((*loc, "relay_device"), f"a device of role relay ({relay!r} is "
                      f"{role_of(relay)})", relay)
