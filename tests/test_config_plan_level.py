"""[well.accounting.plan] and [[well.accounting.groundwater]]: every error names the file, the key
path, the value given and what is allowed; check-config exits 2 without a traceback."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner
from test_config_accounting import BASE, MINIMAL, _errors, _load

from gateway.accounting.plan import build_plan
from gateway.cli import cli

PLAN = """
[[well.accounting.plan.years]]
year = 2027
annual_m3 = 1200
period = "quarter"
source = "bureau 2027"
"""


def test_a_plan_and_a_level_table_become_the_cores_settings(tmp_path):
    config = _load(tmp_path, MINIMAL + PLAN + """
        [well.accounting.head]
        sensor_depth_m = 80

        [[well.accounting.groundwater]]
        wellhead_elevation_m = 1300.5
        control_depth_m = 37
        static_settle_min = 45
        """)
    plan = build_plan(config)
    (year,) = plan.plans.years
    assert (year.year, year.period, year.shares_m3) == (2027, "quarter", (300.0,) * 4)
    assert plan.plans.thresholds_percent == (80.0, 100.0)
    (level,) = plan.groundwater
    # the level sensor and the head table's depth when the entry names neither
    assert (level.device, level.sensor_depth_m, level.settle_s) == ("well-level", 80.0, 2700.0)
    assert level.elevation(30.25) == 1270.25  # 1300.5 − 30.25


@pytest.mark.parametrize(("extra", "expected"), [
    (PLAN + 'shares_m3 = [300, 300, 300]\n',
     "well.accounting.plan.years[0].shares_m3 = [300.0, 300.0, 300.0]: expected 4 shares, one per "
     "quarter (period = 'quarter'); 3 given"),
    (PLAN + 'shares_m3 = [300, 300, 300, 299]\n',
     "expected shares adding up to annual_m3 1200 (±0.5); they add up to 1199"),
    (PLAN + PLAN, "well.accounting.plan.years[1].year = 2027: expected a year not already "
                  "planned by years[0]"),
    (PLAN.replace('"quarter"', '"week"'),
     'well.accounting.plan.years[0].period = "week": expected one of: month, quarter'),
    ("\n[well.accounting.plan]\nperiod_thresholds_percent = [0]\n",
     "well.accounting.plan.period_thresholds_percent[0] = 0"),
    ("\n[[well.accounting.groundwater]]\ncontrol_depth_m = 30\n",
     "well.accounting.groundwater[0].sensor_depth_m: missing; expected the transmitter's depth "
     "below the datum"),
    ("\n[[well.accounting.groundwater]]\nsensor_depth_m = 60\ncontrol_depth_m = 70\n",
     "well.accounting.groundwater[0].control_depth_m = 70.0: expected less than the sensor's "
     "depth 60 m"),
    ("\n[[well.accounting.groundwater]]\ndevice = \"flow-meter\"\nsensor_depth_m = 60\n",
     "well.accounting.groundwater[0].device = \"flow-meter\": expected a device that reads level"),
    ("\n[[well.accounting.groundwater]]\nsensor_depth_m = 60\nstatic_settle_min = 0\n",
     "well.accounting.groundwater[0].static_settle_min = 0: expected minutes the pump must have "
     "been off before a reading is the static level 1..1440"),
])
def test_errors_name_the_key_the_value_and_what_is_allowed(tmp_path, extra, expected):
    errors = _errors(tmp_path, MINIMAL + textwrap.dedent(extra))
    assert any(expected in error for error in errors), errors
    assert all(error.startswith(str(tmp_path / "site.toml")) for error in errors), errors


def test_check_config_exits_2_without_a_traceback(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(BASE + MINIMAL + PLAN + "shares_m3 = [1, 2]\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    expected = "well.accounting.plan.years[0].shares_m3 = [1.0, 2.0]: expected 4"
    assert expected in result.output, result.output


def test_check_config_says_what_the_plan_and_the_level_will_do(tmp_path):
    from gateway.accounting.plan import describe_plan

    config = _load(tmp_path, MINIMAL + PLAN + """
        [[well.accounting.groundwater]]
        sensor_depth_m = 80
        control_depth_m = 37
        """)
    text = "\n".join(describe_plan(config))
    assert ("water plan: 2027 1200 m³ by quarter (more by `wellgate plan set`); warnings at "
            "80 %, 100 % of the year, 80 %, 100 % of the period") in text
    assert ("groundwater well-level: sensor 80 m below the datum, static after 20 min off, "
            "control level 37 m") in text
