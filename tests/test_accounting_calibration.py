"""Calibration against the simulated well: k and η recovered within the stated uncertainty."""

import math

import pytest

from gateway.accounting.calibration import (
    CalibrationParams,
    CalibrationRefused,
    CalibrationSample,
    combine_runs,
    evaluate_run,
    revise_book,
    running_estimate,
)
from gateway.accounting.coefficient import (
    HEAD_RATIO,
    CoefficientBook,
    HeadParameters,
    derived_volume,
    total_head_m,
)
from gateway.simulator.physics import HYDRAULIC_CONSTANT, WellParams, WellPhysics

WELL = WellParams()  # 7.5 kW, η 0.45, static depth 30 m, outlet 2 m, friction 3 m, sensor at 80 m
HEAD = HeadParameters(sensor_depth_m=80.0, outlet_height_m=2.0, friction_head_m=3.0)


def _physics(params=WELL, pump=True, seed=4):
    physics = WellPhysics(params, seed=seed)
    if pump is not None:
        physics.set_pump(pump, 0.0)
    return physics


def _samples(physics, start, end, every=10.0, volume_gain=1.0, resolution=None, with_power=False):
    """A run as the gateway would record it: totals read every `every` s, head from the level."""
    samples = []
    t = start
    while t <= end + 1e-9:
        snap = physics.at(t)
        volume, energy = snap.volume_m3 * volume_gain, snap.energy_kwh
        if resolution is not None:  # the meters' display resolution (m³, kWh)
            volume = math.floor(volume / resolution[0]) * resolution[0]
            energy = math.floor(energy / resolution[1]) * resolution[1]
        head = total_head_m(snap.level_m, HEAD)
        power = snap.power_kw if with_power else None
        samples.append(CalibrationSample(t, volume, energy, head, power))
        t += every
    return samples


def test_steady_run_recovers_the_simulators_k_and_efficiency():
    # Start after 4 drawdown time constants (τ = 900 s): the level is steady, k barely moves.
    physics = _physics()
    samples = _samples(physics, 3600.0, 5400.0)
    result = evaluate_run(samples, CalibrationParams())
    # The physics' own k at the run's effective head: 367.1 · η / H_cal.
    physics_k = HYDRAULIC_CONSTANT * WELL.efficiency / result.calibration_head_m
    assert abs(result.k_m3_per_kwh - physics_k) <= result.expanded_uncertainty
    assert abs(result.efficiency - WELL.efficiency) <= result.efficiency_expanded_uncertainty
    # and against the snapshots' k over the run, independently of H_cal (a fresh well: the
    # physics never goes back in time):
    replay = _physics()
    snapshot_k = [replay.at(s.time_s).coefficient_m3_per_kwh for s in samples]
    assert min(snapshot_k) - 1e-9 <= result.k_m3_per_kwh <= max(snapshot_k) + 1e-9
    # Stated uncertainty: the two meters' 1 % (rectangular: 1/√3 % each) dominate, k = 2.
    assert result.expanded_uncertainty / result.k_m3_per_kwh == pytest.approx(
        2 * math.hypot(0.01 / math.sqrt(3), 0.01 / math.sqrt(3)), rel=0.05
    )


def test_statistical_uncertainty_alone_still_covers_the_physics():
    # With perfect meters only the split-run standard error is left: it must still cover k(H).
    exact = CalibrationParams(reference_accuracy_percent=0.0, energy_accuracy_percent=0.0)
    result = evaluate_run(_samples(_physics(), 3600.0, 5400.0), exact)
    physics_k = HYDRAULIC_CONSTANT * WELL.efficiency / result.calibration_head_m
    assert 0 < result.expanded_uncertainty / result.k_m3_per_kwh < 0.005
    assert abs(result.k_m3_per_kwh - physics_k) <= result.expanded_uncertainty


def test_a_reference_meter_within_its_accuracy_stays_within_the_uncertainty():
    # A clamp-on meter reading 0.8 % high (inside its stated ±1 %), totals shown to 0.01 m³/kWh.
    samples = _samples(_physics(), 3600.0, 5400.0, volume_gain=1.008, resolution=(0.01, 0.01))
    result = evaluate_run(samples, CalibrationParams())
    physics_k = HYDRAULIC_CONSTANT * WELL.efficiency / result.calibration_head_m
    # Truncating both totals to 0.01 moves k by at most 0.01/15.1 m³ + 0.01/3.75 kWh ≈ 0.34 %.
    assert result.k_m3_per_kwh == pytest.approx(physics_k * 1.008, rel=0.0034)
    assert abs(result.k_m3_per_kwh - physics_k) <= result.expanded_uncertainty


def test_two_runs_combine_and_the_coefficient_goes_into_the_book():
    physics = _physics()
    params = CalibrationParams()
    runs = [evaluate_run(_samples(physics, a, a + 1800.0), params) for a in (3600.0, 5400.0)]
    combined = combine_runs(runs, params)
    assert combined.runs == 2
    assert combined.energy_kwh == pytest.approx(sum(r.energy_kwh for r in runs))
    assert abs(combined.efficiency - WELL.efficiency) <= combined.efficiency_expanded_uncertainty
    book = CoefficientBook()
    coefficient = revise_book(book, combined, valid_from=1_800_000_000.0, source="runs 1-2")
    assert (coefficient.version, coefficient.method) == (1, "calibration")
    # With the level sensor, the head-corrected k tracks the physics at another head.
    later = physics.at(9000.0)
    head = total_head_m(later.level_m, HEAD)
    volume = derived_volume(1.0, coefficient, head, HEAD_RATIO)
    assert volume.k_m3_per_kwh == pytest.approx(later.coefficient_m3_per_kwh, rel=0.01)


def test_runs_at_different_heads_are_refused_as_scattered():
    params = CalibrationParams()
    shallow = evaluate_run(_samples(_physics(), 3600.0, 5400.0), params)
    deep_well = _physics(WellParams(static_depth_m=40.0))  # 10 m deeper: k about 20 % lower
    deep = evaluate_run(_samples(deep_well, 3600.0, 5400.0), params)
    with pytest.raises(CalibrationRefused, match=r"runs disagree: k = .* spans .*, at most 3.0%"):
        combine_runs([shallow, deep], params)


def test_too_few_runs_are_refused():
    run = evaluate_run(_samples(_physics(), 3600.0, 5400.0), CalibrationParams())
    with pytest.raises(CalibrationRefused, match=r"1 run\(s\), the config requires 2"):
        combine_runs([run], CalibrationParams())


def test_short_run_is_refused_with_every_reason():
    # 600 s of a 7.5 kW pump: 1.25 kWh and about 5 m³.
    with pytest.raises(CalibrationRefused) as refused:
        evaluate_run(_samples(_physics(), 3600.0, 4200.0), CalibrationParams())
    reasons = " | ".join(refused.value.reasons)
    assert "run lasted 600 s, at least 1800 s needed" in reasons
    assert "energy 1.2" in reasons and "at least 2.0 kWh needed" in reasons
    assert "at least 10.0 m³ needed" in reasons


def test_run_started_with_the_pump_is_refused_as_unstable():
    # During the first 30 minutes drawdown lowers k by about 15 %: not a steady run.
    with pytest.raises(CalibrationRefused, match=r"unstable: k of the 10 parts spans 1\d\.\d%"):
        evaluate_run(_samples(_physics(), 0.0, 1800.0), CalibrationParams())


def test_pump_that_stops_during_the_run_is_refused():
    # Pump runs 0–1200 s of a 0–1800 s run: parts 8–10 (1260–1800 s) draw nothing.
    cycling = _physics(WellParams(on_seconds=1200.0, off_seconds=600.0), pump=None)
    with pytest.raises(CalibrationRefused, match="pump not running throughout: part 8 of 10"):
        evaluate_run(_samples(cycling, 0.0, 1800.0), CalibrationParams(max_relative_spread=1.0))


def test_power_readings_catch_a_stop_between_parts():
    physics = _physics()
    samples = _samples(physics, 3600.0, 5400.0, with_power=True)
    samples[50] = CalibrationSample(samples[50].time_s, samples[50].reference_volume_m3,
                                    samples[50].energy_kwh, samples[50].head_m, 0.0)
    with pytest.raises(CalibrationRefused, match=r"power 0.00 kW at 4100 s \(1 sample\(s\) low\)"):
        evaluate_run(samples, CalibrationParams())


def test_reference_meter_reset_during_the_run_is_refused():
    samples = _samples(_physics(), 3600.0, 5400.0)
    broken = samples[:90] + [
        CalibrationSample(s.time_s, s.reference_volume_m3 - 1000.0, s.energy_kwh, s.head_m)
        for s in samples[90:]
    ]
    with pytest.raises(CalibrationRefused, match=r"reference total fell at 4500\.0 s"):
        evaluate_run(broken, CalibrationParams())


def test_running_estimate_follows_the_run():
    samples = _samples(_physics(), 3600.0, 4200.0)
    assert running_estimate(samples[:1]) is None
    expected = (samples[-1].reference_volume_m3 - samples[0].reference_volume_m3) / (
        samples[-1].energy_kwh - samples[0].energy_kwh
    )
    assert running_estimate(samples) == pytest.approx(expected)
