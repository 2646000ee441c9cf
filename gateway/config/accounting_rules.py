"""The rules across [well.accounting], [well.pump_control] and the devices, run by load_config."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from gateway.config.accounting import AccountingSection
from gateway.config.fields import SECONDS_PER_DAY
from gateway.config.plan_level import groundwater_agrees, plan_years_agree
from gateway.config.pump_control import PumpControlSection
from gateway.errors import ConfigError, Loc, Problem

PointsOf = Callable[[str], list[str] | None]


def meters_read_their_points(accounting: AccountingSection, devices: dict[str, Any],
                             points_of: PointsOf) -> Iterator[Problem]:
    """flow_meter, energy_meter and level_sensor name devices that read what they are for."""
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


def reference_is_a_flow_meter(accounting: AccountingSection, devices: dict[str, Any],
                              points_of: PointsOf) -> Iterator[Problem]:
    """[well.accounting.calibration] reference_device names a device that reads forward_total."""
    reference = accounting.calibration.reference_device
    if reference is None:
        return
    loc = ("well", "accounting", "calibration", "reference_device")
    have = points_of(reference) if reference in devices else None
    if reference not in devices:
        yield Problem(loc, f"the name of a device: {', '.join(sorted(devices))}", reference)
    elif have is not None and "forward_total" not in have:
        yield Problem(loc, f"a flow meter that reads forward_total ({reference!r} does not)",
                      reference)


def coefficient_versions_unique(accounting: AccountingSection) -> Iterator[Problem]:
    first: dict[int, int] = {}
    for index, entry in enumerate(accounting.coefficients):
        if entry.version in first:
            yield Problem(("well", "accounting", "coefficients", index, "version"),
                          f"a version not already used by coefficients[{first[entry.version]}]",
                          entry.version)
        first.setdefault(entry.version, index)


def intervals_end_on_midnight(accounting: AccountingSection) -> Iterator[Problem]:
    if SECONDS_PER_DAY % accounting.interval_s:
        yield Problem(("well", "accounting", "interval_s"),
                      "a divisor of 86400 (e.g. 60, 300, 900, 3600)", accounting.interval_s)


def alarm_thresholds_agree(accounting: AccountingSection) -> Iterator[Problem]:
    """Stopped below running power, a level alarm with a head table, drift clears below raising."""
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


def standard_table_has_the_well(accounting: AccountingSection) -> Iterator[Problem]:
    """[well.accounting.standard] names a table that loads and has an entry for this well."""
    standard = accounting.standard
    if standard is None:
        return
    from gateway.coefficient_tables import load_table, table_path  # only a config naming a table

    loc: Loc = ("well", "accounting", "standard")
    try:
        table = load_table(table_path(standard.table))
    except ConfigError as error:
        yield Problem((*loc, "table"), "a standard coefficient table that loads (a name in "
                      f"config/coefficients/ or a path): {'; '.join(error.errors)}",
                      standard.table)
        return
    if standard.area not in table.areas():
        yield Problem((*loc, "area"), f"an area of table {table.name!r}: "
                      + ", ".join(table.areas()), standard.area)
    elif table.lookup(standard.area, accounting.rated_power_kw, standard.depth_m) is None:
        yield Problem((*loc, "depth_m"), f"a depth band table {table.name!r} has for area "
                      f"{standard.area!r} and rated_power_kw {accounting.rated_power_kw:g}",
                      standard.depth_m)


def pump_control_can_act(accounting: AccountingSection | None, control: PumpControlSection,
                         devices: dict[str, Any],
                         role_of: Callable[[str], str | None]) -> Iterator[Problem]:
    """Pump control, when enabled, has an allocation to enforce and a relay device to act with."""
    if not control.enabled:
        return
    loc: Loc = ("well", "pump_control")
    if accounting is None or (accounting.allocation is None and accounting.plan is None):
        yield Problem((*loc, "enabled"), "false, or a [well.accounting.allocation] or "
                      "[well.accounting.plan] table to enforce (there is none)", True)
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


def accounting_problems(well: Any, devices: dict[str, Any], points_of: PointsOf,
                        role_of: Callable[[str], str | None]) -> Iterator[Problem]:
    """Rules across [well.accounting], [well.pump_control] and the devices.

    devices: name → Device; points_of(name): the device's point names (None: its profile did
    not load); role_of(name): its effective role (None: unknown)."""
    accounting: AccountingSection | None = well.accounting
    if accounting is not None:
        yield from meters_read_their_points(accounting, devices, points_of)
        yield from reference_is_a_flow_meter(accounting, devices, points_of)
        yield from coefficient_versions_unique(accounting)
        yield from intervals_end_on_midnight(accounting)
        yield from alarm_thresholds_agree(accounting)
        yield from standard_table_has_the_well(accounting)
        yield from plan_years_agree(accounting.plan)
        yield from groundwater_agrees(accounting, devices, points_of)
    yield from pump_control_can_act(accounting, well.pump_control, devices, role_of)
