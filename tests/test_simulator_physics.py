"""The simulated well's physics: duty cycle, k(H) = 367.1·η/H, drawdown and recovery, totals."""

import math

import pytest

from gateway.simulator.physics import HYDRAULIC_CONSTANT, WellParams, WellPhysics, with_overrides


def test_hydraulic_constant_matches_water_md():
    # shared/domain/water.md: k = 3.6e6·η/(ρ·g·H) ≈ 367.1·η/H; example H = 60 m, η = 0.45 → 2.75.
    k_example = HYDRAULIC_CONSTANT * 0.45 / 60
    assert pytest.approx(367.1, abs=0.05) == HYDRAULIC_CONSTANT
    assert pytest.approx(2.75, abs=0.01) == k_example


def test_pump_follows_its_duty_cycle():
    physics = WellPhysics(WellParams(on_seconds=600, off_seconds=300), seed=1)
    assert physics.at(0).pump_on
    assert physics.at(599).pump_on
    assert not physics.at(600).pump_on
    assert not physics.at(899).pump_on
    assert physics.at(900).pump_on
    assert physics.at(900).power_kw > 0
    assert physics.at(1600).power_kw == 0.0


def test_flow_is_power_times_head_dependent_coefficient():
    params = WellParams(efficiency=0.5, static_depth_m=40, outlet_height_m=1.5, friction_head_m=2.5)
    physics = WellPhysics(params, seed=3)
    snaps = [physics.at(t) for t in (10, 300, 1200, 1700)]
    for snap in snaps:
        head = 40 + snap.drawdown_m + 1.5 + 2.5
        assert snap.head_m == pytest.approx(head)
        assert snap.coefficient_m3_per_kwh == pytest.approx(367.1 * 0.5 / head, rel=1e-3)
        assert snap.flow_m3h == pytest.approx(snap.power_kw * snap.coefficient_m3_per_kwh)
    # Deeper water (more drawdown) → higher head → fewer m³ per kWh.
    assert snaps[-1].coefficient_m3_per_kwh < snaps[0].coefficient_m3_per_kwh


def test_water_level_draws_down_while_pumping_and_recovers_when_off():
    params = WellParams(on_seconds=3600, off_seconds=3600, drawdown_tau_s=600, specific_capacity=5)
    physics = WellPhysics(params, seed=2)
    start = physics.at(0)
    pumped = physics.at(3599)
    recovered = physics.at(7199)
    assert start.drawdown_m == 0.0
    # After 6 time constants the drawdown is near its equilibrium Q / specific capacity.
    assert pumped.drawdown_m == pytest.approx(pumped.flow_m3h / 5, rel=0.02)
    assert pumped.level_m < start.level_m - 5
    assert recovered.drawdown_m < 0.01 * pumped.drawdown_m
    assert recovered.level_m == pytest.approx(start.level_m, abs=0.1)
    # Level = sensor depth − depth to water.
    assert pumped.level_m == pytest.approx(params.sensor_depth_m - pumped.depth_to_water_m)


def test_totals_only_grow_and_integrate_power_and_flow():
    physics = WellPhysics(WellParams(on_seconds=900, off_seconds=600), seed=5)
    previous = physics.at(0)
    energy_sum = volume_sum = 0.0
    for t in range(10, 7200, 10):
        snap = physics.at(t)
        assert snap.energy_kwh >= previous.energy_kwh
        assert snap.volume_m3 >= previous.volume_m3
        # Trapezoid of the sampled instantaneous values, as an independent integral.
        energy_sum += (snap.power_kw + previous.power_kw) / 2 * 10 / 3600
        volume_sum += (snap.flow_m3h + previous.flow_m3h) / 2 * 10 / 3600
        previous = snap
    assert previous.energy_kwh == pytest.approx(energy_sum, rel=0.02)
    assert previous.volume_m3 == pytest.approx(volume_sum, rel=0.02)
    # 7200 s with 900 on / 600 off: 4 full cycles + 1200 s (900 on) → 4500 s of running.
    assert previous.energy_kwh == pytest.approx(7.5 * 4500 / 3600, rel=0.02)


def test_stopped_pump_leaves_totals_still():
    physics = WellPhysics(WellParams(on_seconds=100, off_seconds=1000), seed=1)
    a, b = physics.at(200), physics.at(1000)
    assert not a.pump_on and not b.pump_on
    assert (a.energy_kwh, a.volume_m3) == (b.energy_kwh, b.volume_m3)
    assert b.flow_m3h == 0.0 and b.power_kw == 0.0


def test_same_seed_same_values_whatever_the_call_pattern():
    one, two = WellPhysics(seed=7), WellPhysics(seed=7)
    for t in (0.5, 13.25, 77.0, 1000.1, 5000.0):
        one.at(t)
    assert one.at(5400.3) == two.at(5400.3)
    assert WellPhysics(seed=8).at(5400.3) != two.at(5400.3)


def test_electrical_values_are_consistent():
    snap = WellPhysics(seed=4).at(100)
    assert snap.pump_on
    assert 0.8 < snap.power_factor < 0.9
    assert all(210 < v < 225 for v in snap.phase_voltages_v)
    assert 49.9 < snap.frequency_hz < 50.1
    off = WellPhysics(WellParams(on_seconds=0, off_seconds=10), seed=4).at(100)
    assert off.power_kw == 0.0 and off.power_factor == 1.0


def test_velocity_is_flow_over_pipe_area():
    snap = WellPhysics(WellParams(pipe_diameter_m=0.08), seed=1).at(50)
    assert snap.velocity_ms == pytest.approx(snap.flow_m3h / 3600 / (math.pi * 0.04**2))


def test_forced_pump_overrides_the_cycle():
    physics = WellPhysics(WellParams(on_seconds=1000, off_seconds=1000), seed=1)
    physics.set_pump(False, 100)
    assert not physics.at(500).pump_on
    physics.set_pump(None, 600)
    assert physics.at(700).pump_on


def test_bad_parameters_are_refused_with_the_value():
    with pytest.raises(ValueError, match=r"unknown well parameter.*'pump_kw'"):
        with_overrides(WellParams(), {"pump_kw": 3})
    with pytest.raises(ValueError, match="step_s must be > 0, got 0"):
        WellPhysics(WellParams(step_s=0))


def test_asking_for_the_past_never_runs_time_backwards():
    physics = WellPhysics()
    late = physics.at(10.5)
    earlier = physics.at(3.0)  # e.g. a clock reading from another thread that lost the race
    assert earlier.time_s == 10.0  # the committed grid point, not 3.0
    assert earlier.energy_kwh <= late.energy_kwh
    assert physics.at(10.5) == late
