"""Config for water accounting: [well.accounting] and [well.pump_control], defaults from the
schema (the accounting core's own thresholds), and errors naming the key, value and what is
allowed."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest

from gateway.accounting.calibration import CalibrationParams
from gateway.accounting.coefficient import HeadParameters
from gateway.accounting.health_rules import (
    DriftThresholds,
    PowerFlowThresholds,
    StuckThresholds,
)
from gateway.accounting.plan import (
    calibration_params,
    coefficient_of,
    describe_plan,
    drift_thresholds,
    head_parameters,
    power_flow_thresholds,
)
from gateway.config import AccountingSection, PumpControlSection, load_config
from gateway.errors import ConfigError

BASE = """\
[well]
id = "w1"

[[buses]]
name = "rs485-1"
type = "rtu"
port = "/dev/ttyUSB0"

[[devices]]
name = "flow-meter"
bus = "rs485-1"
model = "tuf-2000m"
slave_id = 1

[[devices]]
name = "pump-energy"
bus = "rs485-1"
model = "chint-dtsu666"
slave_id = 2

[[devices]]
name = "well-level"
bus = "rs485-1"
model = "qdy30a"
slave_id = 3
"""

MINIMAL = """
[well.accounting]
pump_capacity_m3h = 40
rated_power_kw = 7.5
"""


def _load(tmp_path, extra: str = ""):
    path = tmp_path / "site.toml"
    path.write_text(BASE + textwrap.dedent(extra), encoding="utf-8")
    return load_config(path)


def _errors(tmp_path, extra: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, extra)
    return caught.value.errors


def test_without_the_table_there_is_no_accounting_and_pump_control_is_off(tmp_path):
    config = _load(tmp_path)
    assert config.well.accounting is None
    assert config.well.pump_control == PumpControlSection()
    assert config.well.pump_control.enabled is False
    assert config.well.pump_control.dry_run is True


def test_defaults_are_the_cores_thresholds(tmp_path):
    accounting = _load(tmp_path, MINIMAL).well.accounting
    assert accounting.pump_capacity_m3h == 40.0 and accounting.rated_power_kw == 7.5
    assert (accounting.flow_meter, accounting.energy_meter, accounting.level_sensor) == (
        None, None, None)
    assert (accounting.interval_s, accounting.evaluate_every_s, accounting.spike_margin) == (
        900, 30.0, 1.5)
    assert accounting.head is None and accounting.allocation is None
    assert accounting.coefficients == []
    alarms = accounting.alarms
    assert power_flow_thresholds(alarms.power_flow) == PowerFlowThresholds()
    assert drift_thresholds(alarms.drift) == DriftThresholds()
    assert alarms.totaliser_stuck.window_s == StuckThresholds.window_s
    assert alarms.level.control_depth_m is None  # no control level: no level alarm
    assert calibration_params(accounting.calibration) == CalibrationParams()
    assert accounting == AccountingSection(pump_capacity_m3h=40, rated_power_kw=7.5)


def test_head_defaults_are_the_cores(tmp_path):
    head = _load(tmp_path, MINIMAL + "\n[well.accounting.head]\nsensor_depth_m = 80\n"
                 ).well.accounting.head
    assert head_parameters(head) == HeadParameters(sensor_depth_m=80.0)


def test_a_full_section_is_read(tmp_path):
    config = _load(tmp_path, RELAY + MINIMAL + """
        flow_meter = "flow-meter"
        energy_meter = "pump-energy"
        level_sensor = "well-level"
        interval_s = 300

        [well.accounting.head]
        sensor_depth_m = 80
        outlet_height_m = 2
        friction_head_m = 3
        model = "efficiency"

        [[well.accounting.coefficients]]
        version = 1
        value_m3_per_kwh = 4.7
        valid_from = 2025-01-01T00:00:00+08:00
        method = "imported"
        source = "county notice 2024-17"

        [[well.accounting.coefficients]]
        version = 2
        value_m3_per_kwh = 4.65
        valid_from = 2025-06-01T00:00:00+08:00
        method = "calibration"
        source = "run 2025-05-30"
        efficiency = 0.45
        calibration_head_m = 35.5
        uncertainty_m3_per_kwh = 0.08

        [well.accounting.allocation]
        annual_m3 = 50000
        thresholds_percent = [50, 80, 100]
        source = "metered"

        [well.accounting.alarms.level]
        control_depth_m = 37.0

        [well.accounting.alarms.drift]
        raise_fraction = 0.08

        [well.accounting.calibration]
        reference_device = "flow-meter"
        runs_required = 3

        [well.pump_control]
        enabled = true
        dry_run = false
        relay_device = "relay"
        coil = 16
    """)
    accounting = config.well.accounting
    assert head_parameters(accounting.head).sensor_depth_m == 80.0
    assert accounting.head.model == "efficiency"
    first, second = (coefficient_of(entry) for entry in accounting.coefficients)
    assert first.valid_from == datetime(2024, 12, 31, 16, tzinfo=UTC).timestamp()
    assert (second.version, second.efficiency, second.calibration_head_m) == (2, 0.45, 35.5)
    assert accounting.allocation.thresholds_percent == [50.0, 80.0, 100.0]
    assert accounting.alarms.level.control_depth_m == 37.0
    assert drift_thresholds(accounting.alarms.drift).raise_fraction == 0.08
    assert calibration_params(accounting.calibration).runs_required == 3
    assert config.well.pump_control.coil == 16 and config.well.pump_control.dry_run is False


RELAY = """
[[devices]]
name = "relay"
bus = "rs485-1"
model = "tuf-2000m"
slave_id = 9
role = "relay"
"""


@pytest.mark.parametrize(("extra", "expected"), [
    ("spike_margin = 0.5", "well.accounting.spike_margin = 0.5: expected a rise above capacity "
     "× time × this is a spike"),
    ('flow_meter = "flow-metre"', 'well.accounting.flow_meter = "flow-metre": expected the name '
     "of a device: flow-meter, pump-energy, well-level"),
    ('energy_meter = "flow-meter"', 'well.accounting.energy_meter = "flow-meter": expected a '
     "device that reads import_energy ('flow-meter' reads flow_rate, velocity, forward_total, "
     "reverse_total, net_total, error_code, step_and_signal_quality, totalizer_unit, "
     "totalizer_multiplier)"),
    ("interval_s = 700", "well.accounting.interval_s = 700: expected a divisor of 86400 "
     "(e.g. 60, 300, 900, 3600)"),
    ("interval_s = 900.5", "well.accounting.interval_s = 900.5: expected seconds per interval "
     "record (a divisor of 86400, so intervals end on local midnights), 10..86400"),
    ("spikes = 2", "well.accounting.spikes: unknown key; expected one of: flow_meter"),
])
def test_errors_name_key_value_and_what_is_allowed(tmp_path, extra, expected):
    errors = _errors(tmp_path, MINIMAL + extra)
    assert any(expected in error for error in errors), errors
    assert all(error.startswith(str(tmp_path / "site.toml") + ":") for error in errors)


def test_a_missing_required_key_is_named_with_its_line(tmp_path):
    errors = _errors(tmp_path, "\n[well.accounting]\npump_capacity_m3h = 0\n")
    header = len(BASE.splitlines()) + 2  # the [well.accounting] line, after one blank line
    site = tmp_path / "site.toml"
    assert errors == [f"{site}:{header}: well.accounting.rated_power_kw: missing; "
                      "expected the pump's rated electrical power, kW (bounds the energy "
                      "total's rise)",
                      f"{site}:{header + 1}: well.accounting.pump_capacity_m3h "
                      "= 0: expected the most the pump can deliver, m³/h (a larger rise is a "
                      "spike: held)"]


@pytest.mark.parametrize(("extra", "expected"), [
    ("""
     [[well.accounting.coefficients]]
     version = 1
     value_m3_per_kwh = 4.7
     valid_from = 2025-01-01T00:00:00
     source = "x"
     """, "well.accounting.coefficients[0].valid_from = datetime.datetime(2025, 1, 1, 0, 0): "
         "expected a TOML date-time with its offset, e.g. 2025-03-01T00:00:00+08:00"),
    ("""
     [[well.accounting.coefficients]]
     version = 1
     value_m3_per_kwh = 4.7
     valid_from = 2025-01-01T00:00:00+08:00
     source = "x"
     method = "guess"
     """, "well.accounting.coefficients[0].method = \"guess\": expected one of: calibration, "
         "manual, imported"),
    ("""
     [[well.accounting.coefficients]]
     version = 1
     value_m3_per_kwh = 4.7
     valid_from = 2025-01-01T00:00:00+08:00
     source = "x"

     [[well.accounting.coefficients]]
     version = 1
     value_m3_per_kwh = 4.8
     valid_from = 2025-02-01T00:00:00+08:00
     source = "y"
     """, "well.accounting.coefficients[1].version = 1: expected a version not already used by "
         "coefficients[0]"),
    ("""
     [well.accounting.allocation]
     annual_m3 = 5000
     thresholds_percent = [80, 0]
     """, "well.accounting.allocation.thresholds_percent[1] = 0"),
    ("""
     [well.accounting.head]
     sensor_depth_m = 80
     model = "quadratic"
     """, 'well.accounting.head.model = "quadratic": expected one of: fixed, head_ratio, '
         "efficiency"),
    ("""
     [well.accounting.alarms.level]
     control_depth_m = 37.0
     """, "well.accounting.alarms.level.control_depth_m = 37.0: expected a "
         "[well.accounting.head] table too"),
    ("""
     [well.accounting.alarms.power_flow]
     stopped_power_kw = 0.6
     """, "well.accounting.alarms.power_flow.stopped_power_kw = 0.6: expected less than "
         "running_power_kw (0.5)"),
])
def test_errors_in_sub_tables(tmp_path, extra, expected):
    errors = _errors(tmp_path, MINIMAL + textwrap.dedent(extra))
    assert any(expected in error for error in errors), errors


def test_pump_control_needs_an_allocation_and_a_relay(tmp_path):
    errors = _errors(tmp_path, MINIMAL + "\n[well.pump_control]\nenabled = true\n")
    text = "\n".join(errors)
    assert ("well.pump_control.enabled = true: expected false, or a "
            "[well.accounting.allocation] or [well.accounting.plan] table to enforce (there is "
            "none)") in text
    assert "well.pump_control.relay_device: missing; expected the name of the device" in text
    errors = _errors(tmp_path, MINIMAL + """
        [well.accounting.allocation]
        annual_m3 = 5000

        [well.pump_control]
        enabled = true
        relay_device = "flow-meter"
    """)
    assert any("well.pump_control.relay_device = \"flow-meter\": expected a device of role "
               "relay ('flow-meter' is flow)" in error for error in errors), errors


def test_pump_control_with_a_relay_device_loads(tmp_path):
    config = _load(tmp_path, RELAY + MINIMAL + """
        [well.accounting.allocation]
        annual_m3 = 5000

        [well.pump_control]
        enabled = true
        relay_device = "relay"
        coil = 3
    """)
    control = config.well.pump_control
    assert (control.enabled, control.dry_run, control.coil, control.confirm_within_s) == (
        True, True, 3, 60.0)


def test_every_field_is_described():
    from gateway import config as settings

    for model in (settings.AccountingSection, settings.HeadSection, settings.CoefficientEntry,
                  settings.AllocationSection, settings.PowerFlowSection,
                  settings.BackwardsSection, settings.StuckSection, settings.StatusSection,
                  settings.DriftSection, settings.LevelSection, settings.OfflineSection,
                  settings.ClockSection, settings.AlarmsSection, settings.CalibrationSection,
                  settings.PumpControlSection):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_check_config_says_what_accounting_will_do(tmp_path):
    from gateway.config import summarize

    config = _load(tmp_path, RELAY + MINIMAL + """
        [well.accounting.allocation]
        annual_m3 = 5000

        [well.pump_control]
        enabled = true
        relay_device = "relay"
    """)
    text = summarize(config, describe_plan(config))
    assert ("accounting: metered from flow-meter forward_total; derived from pump-energy "
            "import_energy (no coefficient yet: wellgate calibrate; head model fixed); "
            "intervals of 900 s") in text
    assert "allocation 5000 m³/year counted from metered volume, warnings at 80 %, 100 %" in text
    assert "pump control (以电控水): DRY RUN (records only)" in text


def test_check_config_prints_what_accounting_will_do(tmp_path):
    from click.testing import CliRunner

    from gateway.cli import cli

    path = tmp_path / "site.toml"
    path.write_text(BASE + textwrap.dedent(MINIMAL), encoding="utf-8")
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert "accounting: metered from flow-meter forward_total" in result.output
    assert "pump control (以电控水): off" in result.output
