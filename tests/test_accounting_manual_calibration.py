"""率定 with a portable clamp-on meter whose readings are typed in: k and its uncertainty worked
by hand, k within its uncertainty of the pump-curve well's own, runs at two water levels kept
apart as two coefficients, and `wellgate calibrate --manual` storing them."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from accounting_support import SimulatedFeed, site, stored
from click.testing import CliRunner
from season_support import OUTLET_M, PRESSURE_M, SEASON_WELL

from gateway.accounting.calibration import CalibrationParams, CalibrationRefused, combine_runs
from gateway.accounting.manual_calibration import (
    ManualRun,
    ReadingPrecision,
    combine_by_head,
    evaluate_manual,
    parse_run,
)
from gateway.cli import cli
from gateway.simulator.physics import WellPhysics

CLAMP_ON = CalibrationParams(min_duration_s=1800, reference_accuracy_percent=2.0,
                             energy_accuracy_percent=1.0, runs_required=2)
PRECISION = ReadingPrecision(volume_resolution_m3=0.01, energy_resolution_kwh=0.01, timing_s=5)
RUN_1 = "2026-06-01T08:00:00+08:00,1000.00,500.00,2026-06-01T09:00:00+08:00,1031.40,510.00"
RUN_2 = "2026-06-01T09:30:00+08:00,1040.00,512.00,2026-06-01T10:30:00+08:00,1071.00,521.90"


def test_two_typed_runs_worked_by_hand():
    # run 1: 31.40 m³ / 10.00 kWh = 3.14; run 2: 31.00 / 9.90 = 3.131313 m³/kWh.
    # per run (relative): readings 0.01/√6 / 31.40 = 0.000130, 0.01/√6 / 10.00 = 0.000408;
    # timing √2 · (31.40/3600 m³/s) · 5/√3 / 31.40 = 0.001134; together 0.0012123.
    first = evaluate_manual(parse_run(RUN_1), CLAMP_ON, PRECISION)
    second = evaluate_manual(parse_run(RUN_2), CLAMP_ON, PRECISION)
    assert first.k_m3_per_kwh == pytest.approx(3.14)
    assert second.k_m3_per_kwh == pytest.approx(3.131313, rel=1e-6)
    assert first.relative_uncertainties["statistical"] == pytest.approx(0.0012123, rel=1e-4)
    # combined: 62.40 / 19.90 = 3.135678; between runs s = 0.0061426, /√2 /k = 0.0013852
    # (above the within-run 0.000858); clamp-on 2 %/√3 = 0.011547, energy 1 %/√3 = 0.0057735;
    # u_c = 0.012984, U = 2 · 0.012984 · 3.135678 = 0.08143 m³/kWh.
    combined = combine_runs([first, second], CLAMP_ON)
    assert combined.k_m3_per_kwh == pytest.approx(3.135678, rel=1e-6)
    assert combined.relative_uncertainties["statistical"] == pytest.approx(0.0013852, rel=1e-4)
    assert combined.expanded_uncertainty == pytest.approx(0.08143, rel=1e-3)


def test_typed_readings_from_the_pump_curve_well_give_its_k_within_the_uncertainty():
    # The installer reads both displays (0.01 m³, 0.01 kWh) at about 10:00 and 11:00, the
    # clamp-on a few seconds after the energy meter, and types the whole minutes.
    physics = WellPhysics(replace(SEASON_WELL, static_depth_m=57.0), seed=11)
    physics.set_pump(True, 0.0)
    runs = []
    for start in (2 * 3600.0, 3.5 * 3600.0):
        end = start + 3600.0
        readings, snaps = [], []
        for t in (start, end):  # the simulated well never goes back: read in time order
            energy = physics.at(t)
            clamp = physics.at(t + 4.0)
            snaps.append(energy)
            readings.append((math.floor(clamp.volume_m3 * 100) / 100,
                             math.floor(energy.energy_kwh * 100) / 100,
                             energy.depth_to_water_m + OUTLET_M + PRESSURE_M))
        (v0, e0, h0), (v1, e1, h1) = readings
        runs.append(ManualRun(start, v0, e0, end, v1, e1, (h0 + h1) / 2))
        begin, true = snaps
        truth = (true.volume_m3 - begin.volume_m3) / (true.energy_kwh - begin.energy_kwh)
        result = evaluate_manual(runs[-1], CLAMP_ON, PRECISION)
        assert abs(result.k_m3_per_kwh - truth) <= result.expanded_uncertainty
        assert abs(result.k_m3_per_kwh - truth) / truth < 0.002  # the readings are the error
    ((group, combined),) = combine_by_head(
        [(run, evaluate_manual(run, CLAMP_ON, PRECISION)) for run in runs], CLAMP_ON, 2.0)
    assert len(group) == 2 and combined.calibration_head_m is not None
    truth = physics.at(4.5 * 3600.0).coefficient_m3_per_kwh
    assert abs(combined.k_m3_per_kwh - truth) <= combined.expanded_uncertainty


def test_runs_at_two_water_levels_are_two_coefficients_not_a_refusal():
    # k 3.14 at 64 m and 2.93 at 73 m: 6.9 % apart, refused as one coefficient ...
    runs = [ManualRun(0, 0, 0, 3600, 31.40, 10.00, 64.0),
            ManualRun(4000, 0, 0, 7600, 31.35, 10.00, 64.3),
            ManualRun(0, 0, 0, 3600, 29.30, 10.00, 73.0),
            ManualRun(4000, 0, 0, 7600, 29.28, 10.00, 72.8)]
    judged = [(run, evaluate_manual(run, CLAMP_ON, PRECISION)) for run in runs]
    with pytest.raises(CalibrationRefused, match="runs disagree"):
        combine_runs([result for _, result in judged], CLAMP_ON)
    # ... but each water level is a point of k(H)
    groups = combine_by_head(judged, CLAMP_ON, 2.0)
    assert [round(result.k_m3_per_kwh, 4) for _, result in groups] == [3.1375, 2.929]
    assert [round(result.calibration_head_m, 2) for _, result in groups] == [64.15, 72.9]


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-06-01T08:00:00+08:00,1000,500", "expected START_TIME,START_M3,START_KWH,END_TIME"),
    ("2026-06-01T08:00:00,1000,500,2026-06-01T09:00:00+08:00,1031.4,510", "give its offset"),
    ("yesterday,1000,500,2026-06-01T09:00:00+08:00,1031.4,510", "START_TIME 'yesterday'"),
    ("2026-06-01T08:00:00+08:00,1000,500,2026-06-01T09:00:00+08:00,103l.4,510",
     "END_M3 '103l.4': expected a number"),
])
def test_a_mistyped_run_says_which_field_and_what_was_expected(text, expected):
    with pytest.raises(ValueError, match=expected):
        parse_run(text)


def test_calibrate_manual_stores_the_coefficient(tmp_path):
    config = site(tmp_path, coefficient=None)
    feed = SimulatedFeed(config)  # the gateway's store, with its key
    feed.run(60, every=10)
    feed.close()
    path = str(tmp_path / "site.toml")
    runner = CliRunner()
    refused = runner.invoke(cli, ["calibrate", "--config", path, "--manual", "--run",
                                  RUN_1.replace("1031.40", "1001.40")])
    assert refused.exit_code == 1 and "volume 1.400 m³, at least 10.0 m³" in refused.output
    bad = runner.invoke(cli, ["calibrate", "--config", path, "--manual", "--run", "1,2"])
    assert bad.exit_code != 0 and "expected START_TIME" in bad.output
    result = runner.invoke(cli, ["calibrate", "--config", path, "--manual", "--run", RUN_1,
                                 "--run", RUN_2, "--yes"])
    assert result.exit_code == 0, result.output
    assert "k = 3.1357 ±" in result.output and "from 2 typed run(s)" in result.output
    (record,) = stored(feed.state_dir, "coefficient")
    coefficient = record.data["coefficient"]
    assert coefficient["version"] == 1 and coefficient["method"] == "calibration"
    assert coefficient["value_m3_per_kwh"] == pytest.approx(3.135678, rel=1e-6)
    assert "portable meter" in coefficient["source"]
    assert [run["end_m3"] for run in record.data["runs"]] == [1031.40, 1071.00]


def test_calibrate_manual_asks_for_the_runs_when_none_is_given(tmp_path):
    config = site(tmp_path, coefficient=None)
    SimulatedFeed(config).close()
    path = str(tmp_path / "site.toml")
    typed = f"{RUN_1}\n{RUN_2}\n\ny\n"  # two runs, an empty line, yes to store
    result = CliRunner().invoke(cli, ["calibrate", "--config", path, "--manual"], input=typed)
    assert result.exit_code == 0, result.output
    assert "run 1 as START_TIME,START_M3,START_KWH" in result.output
    assert "stored as coefficient version 1" in result.output
    (record,) = stored(tmp_path / "state", "coefficient")
    assert record.data["coefficient"]["value_m3_per_kwh"] == pytest.approx(3.135678, rel=1e-6)
