"""Config for k(H): the fit head model, the head band and margin, re-test rules, the bureau's
standard table; every error names file, key path, value and what is allowed."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner
from site_config import BASE

from gateway.accounting.plan import build_plan
from gateway.cli import cli
from gateway.coefficient_tables import BUILTIN_TABLE_DIR, load_table, table_path
from gateway.config import load_config
from gateway.errors import ConfigError

SITE = BASE + """
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

[well.accounting]
pump_capacity_m3h = 40
rated_power_kw = 11

[well.accounting.head]
sensor_depth_m = 80
"""


def _write(tmp_path, extra: str):
    path = tmp_path / "site.toml"
    path.write_text(SITE + textwrap.dedent(extra), encoding="utf-8")
    return path


def test_the_fit_and_the_standard_table_load_into_the_plan(tmp_path):
    config = load_config(_write(tmp_path, """
        [well.accounting.standard]
        table = "illustrative"
        area = "example"
        depth_m = 85
        [well.accounting.calibration]
        retest_after_days = 180
        retest_level_change_m = 4
        """))
    plan = build_plan(config)
    assert plan.standard is not None and plan.standard.k_m3_per_kwh == 1.43  # 11 kW, 80-150 m
    assert "illustrative" in plan.standard.source.lower() or "no bureau" in plan.standard.source
    assert plan.recalibration is not None and plan.recalibration.retest_after_days == 180
    assert plan.recalibration.retest_level_change_m == 4
    assert plan.fit.head_band_m == 2.0 and plan.fit.extrapolation_margin_m == 2.0
    out = CliRunner().invoke(cli, ["check-config", str(tmp_path / "site.toml")]).output
    assert "before a calibration: standard k 1.43 m³/kWh from table 'illustrative'" in out


@pytest.mark.parametrize(("extra", "expected"), [
    ("""
     [well.accounting.standard]
     table = "illustrative"
     area = "ordos"
     depth_m = 50
     """, 'well.accounting.standard.area = "ordos": expected an area of table '
         "'illustrative': example"),
    ("""
     [well.accounting.standard]
     table = "illustrative"
     area = "example"
     depth_m = 400
     """, "well.accounting.standard.depth_m = 400.0: expected a depth band table "
         "'illustrative' has for area 'example' and rated_power_kw 11"),
    ("""
     [well.accounting.standard]
     table = "bureau-2031"
     area = "example"
     depth_m = 50
     """, 'well.accounting.standard.table = "bureau-2031": expected a standard coefficient '
         "table that loads"),
    ("""
     [well.accounting.calibration]
     retest_after_days = 0
     """, "well.accounting.calibration.retest_after_days = 0: expected days after which a "
         "calibration is due again"),
    ("""
     [well.accounting.alarms.calibration_due]
     window_s = 5
     """, "well.accounting.alarms.calibration_due.window_s = 5: expected the median pumping "
         "head is taken over this, seconds 60..86400"),
])
def test_errors_name_key_value_and_what_is_allowed(tmp_path, extra, expected):
    path = _write(tmp_path, extra)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any(expected in error and str(path) in error for error in caught.value.errors), (
        caught.value.errors)
    result = CliRunner().invoke(cli, ["check-config", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_the_head_table_takes_fit_and_bounds_its_band(tmp_path):
    config = load_config(_write(tmp_path, 'model = "fit"\nhead_band_m = 3\n'))
    assert build_plan(config).head_model == "fit"
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, 'model = "fit"\nhead_band_m = 0\n'))
    assert any("well.accounting.head.head_band_m = 0: expected calibrations whose heads are "
               "closer than this are one head" in e for e in caught.value.errors)


def test_the_builtin_table_says_it_is_illustrative_and_a_broken_one_is_named(tmp_path):
    table = load_table(table_path("illustrative"))
    assert table_path("illustrative").parent == BUILTIN_TABLE_DIR
    assert "illustrative" in table.title.lower() and table.unconfirmed
    assert table.lookup("example", 11.0, 52.0).k_m3_per_kwh == 2.59
    assert table.lookup("example", 11.0, 500.0) is None
    broken = tmp_path / "broken.toml"
    broken.write_text(table_path("illustrative").read_text(encoding="utf-8").replace(
        "depth_m = [40.0, 80.0]", "depth_m = [80.0, 40.0]", 1), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_table(broken)
    assert any(str(broken) in e and "entries[1].depth_m" in e and "above < up to" in e
               for e in caught.value.errors), caught.value.errors
