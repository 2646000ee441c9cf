"""The [well.accounting] table and its sub-tables, with every default and choice they have."""

# The accounting core takes its defaults and choices from here (health_rules, calibration,
# coefficient), so the two never disagree; the rules across these tables and the devices are in
# accounting_rules.

import typing
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator

from gateway.config.alarms import AlarmsSection
from gateway.config.fields import SECONDS_PER_DAY, Section, bounded, seconds, table
from gateway.config.plan_level import GroundwaterEntry, PlanSection
from gateway.errors import bounds_text, one_of

HeadModel = Literal["fixed", "head_ratio", "efficiency", "fit"]
# fixed: k as calibrated, whatever the head; head_ratio: k(H) = k_cal · H_cal / H (η taken as
# constant); efficiency: k(H) = 367.1 · η / H with the calibrated η; fit: the weighted line k(H)
# through the calibrations made at different heads (accounting/khead.py).
HEAD_MODELS: tuple[str, ...] = typing.get_args(HeadModel)
FIXED, HEAD_RATIO, EFFICIENCY, FIT = HEAD_MODELS
CoefficientMethod = Literal["calibration", "manual", "imported"]
METHODS: tuple[str, ...] = typing.get_args(CoefficientMethod)
AllocationSource = Literal["auto", "metered", "derived"]
ALLOCATION_SOURCES: tuple[str, ...] = typing.get_args(AllocationSource)
PERCENT = {"gt": 0, "le": 1000}  # the bounds of one allocation warning threshold


def _aware_datetime(value: Any) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    raise ValueError("a TOML date-time with its offset, e.g. 2025-03-01T00:00:00+08:00")


AwareDatetime = Annotated[
    datetime,
    PlainValidator(_aware_datetime),
    Field(description="a TOML date-time with its offset, e.g. 2025-03-01T00:00:00+08:00"),
]


class HeadSection(Section):
    """How the total pumping head follows from the level transmitter (water.md's model)."""

    sensor_depth_m: float = bounded(
        "depth of the level transmitter below ground, metres", gt=0, le=2000, sep=" ")
    outlet_height_m: float = bounded(
        "height of the outlet above ground, metres", 0.0, ge=0, le=200, sep=" ")
    friction_head_m: float = bounded(
        "pressure and friction head at the outlet, taken as constant, metres", 0.0, ge=0,
        le=500, sep=" ")
    model: HeadModel = Field(
        default=HEAD_RATIO,
        description=one_of(HEAD_MODELS) + " (fixed: k as calibrated; head_ratio: "
        "k·H_cal/H; efficiency: 367.1·η/H; fit: the line k(H) through calibrations at "
        "several heads)",
    )
    max_head_ratio: float = bounded(
        "a head beyond H_cal times or divided by this is taken as a sensor fault (no "
        "correction)", 1.5, gt=1, le=10)
    head_band_m: float = bounded(
        "calibrations whose heads are closer than this are one head (the newest counts), "
        "metres", 2.0, gt=0, le=100)
    extrapolation_margin_m: float = bounded(
        "a pumping head beyond the calibrated heads by more than this raises calibration_due, "
        "metres", 2.0, ge=0, le=100)


class CoefficientEntry(Section):
    """One version of the well's 以电折水 coefficient k (m³/kWh) as the installer was given it."""

    version: int = bounded("an integer", ge=1, le=1_000_000, sep=" ", then=", unique")
    value_m3_per_kwh: float = bounded("k in m³/kWh", gt=0, le=1000)
    valid_from: AwareDatetime
    method: CoefficientMethod = Field(default="manual", description=one_of(METHODS))
    source: str = Field(
        min_length=1,
        description='where k comes from, e.g. "county water bureau notice 2024-17"',
    )
    efficiency: float | None = bounded(
        "the calibrated wire-to-water efficiency η", None, gt=0, le=1)
    calibration_head_m: float | None = Field(
        default=None, gt=0, le=2000, description="the head k was measured at (H_cal), metres"
    )
    uncertainty_m3_per_kwh: float | None = Field(
        default=None, ge=0, description="the expanded uncertainty of k (coverage factor 2)"
    )


class AllocationSection(Section):
    """The well's annual allocation (取用水总量控制指标) and the warning thresholds."""

    annual_m3: float = Field(gt=0, le=1e9, description="cubic metres per local calendar year")
    thresholds_percent: list[Annotated[float, Field(**PERCENT)]] = Field(
        default=[80.0, 100.0], min_length=1,
        description=f"a list of percentages of the allocation, each {bounds_text(**PERCENT)}",
    )
    source: AllocationSource = Field(
        default="auto",
        description=one_of(ALLOCATION_SOURCES) + " (auto: the flow meter where the well has "
        "one, else 以电折水)",
    )


class CalibrationSection(Section):
    """`wellgate calibrate`: the reference flow meter and the rules a run must pass."""

    reference_device: str | None = Field(
        default=None, min_length=1,
        description="the temporarily installed reference flow meter (a device with "
        "forward_total), e.g. \"clamp-on\"",
    )
    min_duration_s: float = seconds(1800.0, 60, 86_400, "shortest run")
    min_energy_kwh: float = Field(default=2.0, gt=0,
                                  description="least energy a run must use, kWh")
    min_volume_m3: float = Field(default=10.0, gt=0,
                                 description="least volume a run must pump, m³")
    sub_intervals: int = bounded("equal-time parts for the stability check", 10, ge=2, le=100)
    max_relative_spread: float = bounded("allowed spread of the parts' k ÷ k", 0.05, gt=0, le=1)
    min_running_fraction: float = Field(default=0.5, gt=0, lt=1,
                                        description="each part's power ≥ this × the median")
    reference_accuracy_percent: float = Field(default=1.0, gt=0, le=20,
                                              description="the reference meter's ± %")
    energy_accuracy_percent: float = Field(default=1.0, gt=0, le=20,
                                           description="the energy meter's class, ± %")
    head_uncertainty_m: float = Field(default=0.2, ge=0, le=50,
                                      description="standard uncertainty of the head, metres")
    runs_required: int = bounded("runs to combine", 2, ge=1, le=20)
    max_spread_between_runs: float = Field(default=0.03, gt=0, le=1,
                                           description="allowed spread of the runs' k ÷ k")
    retest_after_days: float | None = bounded(
        "days after which a calibration is due again, e.g. 365 (none: never by age)", None,
        gt=0, le=3650)
    retest_level_change_m: float | None = bounded(
        "metres the pumping head may move away from every calibrated head before a "
        "calibration is due (none: only the extrapolation margin)", None, gt=0, le=500)
    manual_reading_resolution_m3: float = bounded(
        "the portable meter's display resolution (a typed reading is ± half of it), m³", 0.01,
        gt=0, le=100)
    manual_timing_uncertainty_s: float = bounded(
        "how far apart the typed times and the meter's readings may be, seconds", 5.0, ge=0,
        le=600)


class StandardSection(Section):
    """The bureau's standard 以电折水 coefficient, used until the well is calibrated."""

    table: str = Field(min_length=1, description="a table in config/coefficients/ (its file "
                       "name without .toml) or the path of one")
    area: str = Field(min_length=1, description="the area of the table the well is in")
    depth_m: float = bounded("the well's depth to water that picks the table's depth band, "
                             "metres", gt=0, le=2000, sep=" ")


class AccountingSection(Section):
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
    interval_s: int = bounded(
        "seconds per interval record (a divisor of 86400, so intervals end on local midnights)",
        900, ge=10, le=SECONDS_PER_DAY)
    evaluate_every_s: float = seconds(30.0, 1, 3600, "how often the alarm rules are judged")
    head: HeadSection | None = Field(
        default=None, description="a [well.accounting.head] table (none: k is not corrected)"
    )
    coefficients: list[CoefficientEntry] = Field(
        default=[],
        description="a list of [[well.accounting.coefficients]] tables (none: no 以电折水 "
        "until `wellgate calibrate` stores one)",
    )
    allocation: AllocationSection | None = Field(
        default=None, description="a [well.accounting.allocation] table (none: no allocation)"
    )
    alarms: AlarmsSection = table("a [well.accounting.alarms] table")
    calibration: CalibrationSection = table("a [well.accounting.calibration] table")
    standard: StandardSection | None = Field(
        default=None, description="a [well.accounting.standard] table (none: no 以电折水 "
        "before the first calibration or coefficient)")
    plan: PlanSection | None = Field(
        default=None, description="a [well.accounting.plan] table (none: plans only from "
        "`wellgate plan set`, with the default warnings)")
    groundwater: list[GroundwaterEntry] = Field(
        default=[], description="a list of [[well.accounting.groundwater]] tables "
        "(none: the level sensor's static level only if alarms.level.control_depth_m is set)")
