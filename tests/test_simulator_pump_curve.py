"""The pump-curve well: the operating point where pump and system curves meet, hand-worked, and a
k that follows the pump along its curve rather than the accounting's 367.1·η/H."""

import math

import pytest

from gateway.simulator.physics import HYDRAULIC_CONSTANT, WellParams, WellPhysics
from gateway.simulator.pump_curve import PumpCurve, operating_point

# Round figures to work by hand: H = 100 − 0.1·Q² (rated 20 m³/h at 60 m), best η 0.6 at 20 m³/h,
# motor 0.8, riser 100 m of DN100 with f = 0.02, no outlet pressure.
ROUND = PumpCurve(shutoff_head_m=100, rated_flow_m3h=20, rated_head_m=60, best_flow_m3h=20,
                  best_efficiency=0.6, motor_efficiency=0.8, riser_length_m=100,
                  riser_diameter_m=0.1, riser_friction_factor=0.02, outlet_pressure_m=0)


def test_the_operating_point_worked_by_hand():
    # v per m³/h = 1 / (3600 · π · 0.05²) = 0.0353678 m/s; r = f·L/D / 2g · v² per (m³/h)²
    # = 0.02 · 1000 / 19.6133 · 0.0353678² = 0.00127554 m per (m³/h)².
    assert ROUND.curve_a == pytest.approx(0.1)
    assert ROUND.friction_r == pytest.approx(0.00127554, rel=1e-5)
    # lift 40 m: 100 − 0.1·Q² = 40 + 0.00127552·Q² → Q² = 60 / 0.10127554 = 592.443,
    # Q = 24.3402 m³/h; pump head 100 − 59.2443 = 40.7557 m (friction 0.7557 m);
    # x = Q/20 = 1.21701, η_p = 0.6 · (2x − x²) = 0.6 · 0.952908 = 0.571745;
    # hydraulic power = 9.80665 · 24.3402 / 3600 · 40.7557 = 2.70228 kW;
    # electrical = 2.70228 / (0.571745 · 0.8) = 5.90796 kW; k = 24.3402 / 5.90796 = 4.11989.
    point = operating_point(ROUND, 40.0)
    assert point.flow_m3h == pytest.approx(24.3402, rel=1e-5)
    assert point.pump_head_m == pytest.approx(40.7557, rel=1e-5)
    assert point.friction_m == pytest.approx(0.7557, abs=1e-4)
    assert point.power_kw == pytest.approx(5.90796, rel=1e-5)
    assert point.coefficient == pytest.approx(4.11989, rel=1e-5)
    # on both curves at once
    assert ROUND.pump_head_m(point.flow_m3h) == pytest.approx(40 + point.friction_m)


def test_a_lift_beyond_shut_off_gives_no_water_but_draws_power():
    point = operating_point(ROUND, 101.0)
    assert point.flow_m3h == 0.0 and point.power_kw > 0 and point.coefficient == 0.0


def test_k_of_a_pump_on_its_curve_is_not_the_constant_efficiency_model():
    ks, heads = [], []
    for static in (52.0, 62.0):
        physics = WellPhysics(WellParams(curve=PumpCurve(), static_depth_m=static), seed=2)
        physics.set_pump(True, 0.0)
        snap = physics.at(4 * 3600.0)  # drawdown settled
        assert snap.flow_m3h == pytest.approx(snap.power_kw * snap.coefficient_m3_per_kwh)
        assert snap.drawdown_m == pytest.approx(snap.flow_m3h / 5.0, rel=0.01)
        ks.append(snap.coefficient_m3_per_kwh)
        heads.append(snap.head_m)
        # the integrated totals follow the same operating point
        later = physics.at(4 * 3600.0 + 600)
        k_run = (later.volume_m3 - snap.volume_m3) / (later.energy_kwh - snap.energy_kwh)
        assert k_run == pytest.approx(snap.coefficient_m3_per_kwh, rel=0.02)
    # 10 m deeper: k falls by about a tenth (3.16 → 2.83 m³/kWh) ...
    assert 3.0 < ks[0] < 3.3 and 2.7 < ks[1] < 3.0
    # ... but not as H_cal/H says: the efficiency moved with the flow
    eta = [k * h / HYDRAULIC_CONSTANT for k, h in zip(ks, heads, strict=True)]
    assert not math.isclose(eta[0], eta[1], rel_tol=0.002)
    assert abs(ks[1] / ks[0] - heads[0] / heads[1]) > 0.002


def test_the_simple_model_is_unchanged_without_a_curve():
    physics = WellPhysics(WellParams(), seed=3)
    snap = physics.at(600)
    assert snap.power_kw == pytest.approx(7.5, rel=0.011)
    assert snap.coefficient_m3_per_kwh == pytest.approx(367.1 * 0.45 / snap.head_m, rel=1e-3)
