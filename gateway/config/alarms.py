"""The [well.accounting.alarms] tables: meter-health thresholds (the accounting core's defaults)."""

from typing import Any

from pydantic import Field

from gateway.config.fields import Section, bounded, seconds, table

WEEK_S = 7 * 86_400
MONTH_S = 31 * 86_400


def _mask(value: float) -> str:
    return f"0x{int(value):X}" if value else "0"


def _raise_after(default: float, high: float = 86_400) -> Any:
    return seconds(default, 0, high, "how long the fault must last")


def _clear_after(default: float, high: float = 86_400) -> Any:
    return seconds(default, 0, high, "how long normal must last")


class PowerFlowSection(Section):
    """Power without flow, and flow without power (thresholds shared by both alarms)."""

    enabled: bool = Field(default=True, description="true or false")
    running_power_kw: float = bounded("kW at or above which the pump runs", 0.5, gt=0)
    stopped_power_kw: float = Field(default=0.1, ge=0,
                                    description="kW at or below which the pump is stopped")
    flowing_m3h: float = bounded("m³/h at or above which water moves", 0.5, gt=0)
    no_flow_m3h: float = Field(default=0.1, ge=0,
                               description="m³/h at or below which water stands still")
    window_s: float = seconds(120.0, 10, 86_400, "the window judged")
    min_samples: int = bounded("readings of each in the window", 3, ge=1, le=10_000)
    raise_after_s: float = _raise_after(120.0)
    clear_after_s: float = _clear_after(120.0)


class BackwardsSection(Section):
    """A totaliser that goes down other than by a rollover."""

    enabled: bool = Field(default=True, description="true or false")
    tolerance: float = Field(default=0.0, ge=0,
                             description="a fall up to this (the point's unit) is jitter")
    window_s: float = seconds(3600.0, 60, WEEK_S, "how long a fall keeps the alarm raised")
    raise_after_s: float = _raise_after(0.0)
    clear_after_s: float = _clear_after(0.0)


class StuckSection(Section):
    """A totaliser standing still while the flow rate says water moves."""

    enabled: bool = Field(default=True, description="true or false")
    flowing_m3h: float = Field(default=1.0, gt=0,
                               description="the flow rate must be at least this throughout")
    stuck_fraction: float = Field(default=0.1, ge=0, lt=1,
                                  description="fault: the total rose by at most this × ∫flow dt")
    clear_fraction: float = Field(default=0.5, gt=0, le=1,
                                  description="normal: it rose by at least this × ∫flow dt")
    min_expected_counts: float = Field(default=5.0, gt=0,
                                       description="judge only when ∫flow dt is this many counts")
    window_s: float = seconds(600.0, 10, 86_400, "the window judged")
    raise_after_s: float = _raise_after(120.0)
    clear_after_s: float = _clear_after(120.0)


class StatusSection(Section):
    """The flow meter's own status: empty pipe and error-code bits."""

    enabled: bool = Field(default=True, description="true or false")
    empty_values: list[str] = Field(default=["empty"],
                                    description='pipe_status names meaning empty, e.g. ["empty"]')
    error_mask: int = bounded("the error_code bits that count", 0xFFFF_FFFF, ge=0,
                              le=0xFFFF_FFFF, show=_mask)
    window_s: float = seconds(300.0, 10, 86_400, "a status older than this is stale")
    raise_after_s: float = _raise_after(30.0)
    clear_after_s: float = _clear_after(60.0)


class DriftSection(Section):
    """以电折水 against the flow meter, where the well has both."""

    enabled: bool = Field(default=True, description="true or false")
    raise_fraction: float = Field(default=0.05, gt=0, le=10,
                                  description="|derived − metered| / metered above this: fault")
    clear_fraction: float = Field(default=0.03, gt=0, le=10, description="below this: normal")
    min_volume_m3: float = Field(default=5.0, gt=0,
                                 description="judge only windows with at least this metered")
    window_s: float = seconds(86_400.0, 600, MONTH_S, "the window judged")
    raise_after_s: float = _raise_after(3600.0, WEEK_S)
    clear_after_s: float = _clear_after(3600.0, WEEK_S)


class LevelSection(Section):
    """Groundwater level against its control level (超采区), as depth below ground."""

    control_depth_m: float | None = Field(
        default=None, gt=0, le=2000,
        description="the control level as depth to water below ground, metres (none: no alarm)",
    )
    hysteresis_m: float = Field(default=0.5, ge=0, le=100,
                                description="clear only this much shallower again, metres")
    window_s: float = seconds(86_400.0, 60, MONTH_S, "the mean is taken over this")
    min_samples: int = bounded("readings in the window", 3, ge=1, le=100_000)
    raise_after_s: float = _raise_after(3600.0, WEEK_S)
    clear_after_s: float = _clear_after(3600.0, WEEK_S)


class OfflineSection(Section):
    """A meter the acquisition declares offline ([acquisition] offline_after failed polls)."""

    enabled: bool = Field(default=True, description="true or false")
    raise_after_s: float = seconds(0.0, 0, 86_400, "how long it must stay offline")
    clear_after_s: float = seconds(0.0, 0, 86_400, "how long it must answer again")


class ClockSection(Section):
    """The gateway's clock not synchronised (a Raspberry Pi has no real-time clock)."""

    enabled: bool = Field(default=True, description="true or false")
    check_every_s: float = seconds(60.0, 1, 3600, "how often the clock state is checked")
    raise_after_s: float = seconds(
        900.0, 0, 86_400, "how long it must stay unsynchronised (NTP needs minutes after boot)")
    clear_after_s: float = seconds(0.0, 0, 86_400, "how long it must stay synchronised")


class CalibrationDueSection(Section):
    """以电折水 calibration due: pumping heads beyond the calibrated ones, an old calibration."""

    enabled: bool = Field(default=True, description="true or false")
    window_s: float = seconds(1800.0, 60, 86_400, "the median pumping head is taken over this")
    # hours, not minutes: the level is below its pumping depth for a while after each start
    raise_after_s: float = _raise_after(10_800.0, WEEK_S)
    clear_after_s: float = _clear_after(10_800.0, WEEK_S)


class AlarmsSection(Section):
    """Meter-health alarm thresholds; the accounting core takes its defaults from these."""

    power_flow: PowerFlowSection = table("a [well.accounting.alarms.power_flow] table")
    totaliser_backwards: BackwardsSection = table("a table of backwards thresholds")
    totaliser_stuck: StuckSection = table("a table of stuck-totaliser thresholds")
    meter_status: StatusSection = table("a table of meter-status thresholds")
    drift: DriftSection = table("a table of drift thresholds")
    level: LevelSection = table("a table of level thresholds")
    offline: OfflineSection = table("a table of offline-alarm delays")
    clock: ClockSection = table("a table of clock checks")
    calibration_due: CalibrationDueSection = table("a table of calibration-due delays")
