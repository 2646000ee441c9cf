"""以电折水 coefficients: head from the level sensor, head correction, versions and revisions."""

import pytest

from gateway.accounting.coefficient import (
    EFFICIENCY,
    FIXED,
    HEAD_RATIO,
    Coefficient,
    CoefficientBook,
    HeadParameters,
    depth_to_water_m,
    derived_volume,
    recompute,
    total_head_m,
)
from gateway.simulator.physics import WellParams, WellPhysics

# 2026-01-01, -02-01, -03-01, -04-01 00:00 UTC+8
JAN, FEB, MAR, APR = 1_767_196_800.0, 1_769_875_200.0, 1_772_294_400.0, 1_774_972_800.0
HEAD = HeadParameters(sensor_depth_m=80.0, outlet_height_m=2.0, friction_head_m=3.0)
# shared/domain/water.md's example: H = 60 m, η = 0.45 → k ≈ 2.75 m³/kWh.
K_60M = Coefficient(1, 2.75, JAN, "calibration", "run 1", efficiency=0.45, calibration_head_m=60.0)


def test_head_from_the_level_transmitter():
    # 42 m of water above a sensor 80 m deep: water at 80 − 42 = 38 m; H = 38 + 2 + 3 = 43 m.
    assert depth_to_water_m(42.0, HEAD) == 38.0
    assert total_head_m(42.0, HEAD) == 43.0
    with pytest.raises(ValueError, match=r"level must be a water column >= 0 m .* got -1.0"):
        total_head_m(-1.0, HEAD)
    with pytest.raises(ValueError, match=r"level 85.0 m is above ground for a sensor 80.0 m deep"):
        total_head_m(85.0, HEAD)


@pytest.mark.parametrize(
    ("model", "head", "k", "note"),
    [
        (FIXED, 66.0, 2.75, None),  # no correction asked for
        (HEAD_RATIO, 66.0, 2.5, None),  # 2.75 × 60 / 66 = 2.5
        (HEAD_RATIO, 55.0, 3.0, None),  # 2.75 × 60 / 55 = 3.0
        (EFFICIENCY, 66.0, 367.0998 * 0.45 / 66, None),  # 367.1 · η / H = 2.50295
        (HEAD_RATIO, None, 2.75, "no usable head"),  # level sensor offline
        (HEAD_RATIO, 95.0, 2.75, "beyond 1.5× the calibration head"),  # 95 > 60 × 1.5 = 90
    ],
)
def test_head_correction(model, head, k, note):
    result = derived_volume(10.0, K_60M, head, model)
    assert result.k_m3_per_kwh == pytest.approx(k, rel=1e-5)
    assert result.volume_m3 == pytest.approx(10.0 * k, rel=1e-5)
    assert (result.coefficient_version, result.head_model) == (1, model)
    assert (result.note is None) if note is None else (note in result.note)


def test_a_coefficient_without_calibration_head_is_not_corrected_and_says_so():
    manual = Coefficient(2, 2.6, JAN, "manual", "county table 2025")
    result = derived_volume(4.0, manual, 70.0, HEAD_RATIO)
    assert result.volume_m3 == pytest.approx(10.4)  # 4 × 2.6
    assert "coefficient v2 has no calibration head or η" in result.note


def test_coefficient_fields_are_checked():
    with pytest.raises(ValueError, match="coefficient must be > 0 m³/kWh, got 0"):
        Coefficient(1, 0.0, JAN, "manual", "x")
    with pytest.raises(ValueError, match=r"method 'guess' is not one of \('calibration'"):
        Coefficient(1, 2.0, JAN, "guess", "x")
    with pytest.raises(ValueError, match="energy must be >= 0 kWh, got -1"):
        derived_volume(-1.0, K_60M)


def test_book_picks_the_valid_coefficient_and_a_revision_supersedes_its_period():
    book = CoefficientBook([K_60M])
    march = book.revise(2.6, MAR, "calibration", "run 2", calibration_head_m=63.0)
    corrected = book.revise(2.8, JAN, "manual", "run 1 re-read: reference meter misconfigured")
    assert [c.version for c in book.versions] == [1, 2, 3]
    assert book.valid_at(FEB) is corrected  # same valid_from as v1, higher version
    assert book.valid_at(APR) is march  # v3 restates January onwards only until March
    assert book.span(1) == (JAN, JAN)  # revised away entirely
    assert book.span(3) == (JAN, MAR)
    assert book.span(2) == (MAR, None)
    assert book.needs_recompute(1, FEB) and not book.needs_recompute(2, APR)
    with pytest.raises(LookupError, match=f"no coefficient is valid at {JAN - 1}"):
        book.valid_at(JAN - 1)
    with pytest.raises(ValueError, match="coefficient version 2 is already in the book"):
        book.add(march)
    assert CoefficientBook.from_state(book.to_state()).versions == book.versions


def test_recompute_keeps_energy_head_and_model():
    original = derived_volume(10.0, K_60M, 66.0, HEAD_RATIO)  # 10 × 2.5 = 25 m³
    revised = Coefficient(3, 2.86, JAN, "calibration", "run 3", calibration_head_m=60.0)
    again = recompute(original, revised)
    assert again.volume_m3 == pytest.approx(10 * 2.86 * 60 / 66)  # 26.0 m³
    assert (again.coefficient_version, again.head_model, again.head_m) == (3, HEAD_RATIO, 66.0)


def test_head_corrected_volume_follows_the_simulated_well_where_a_fixed_k_drifts():
    # Six hours of 30-minute pump cycles: the level draws down 7 m and recovers every hour.
    # k was calibrated at the steady pumping head; energy is read every minute.
    params = WellParams(on_seconds=1800.0, off_seconds=1800.0)
    well = WellPhysics(params, seed=8)
    steady = WellPhysics(params, seed=8).at(1799.0)
    calibrated = Coefficient(1, steady.coefficient_m3_per_kwh, JAN, "calibration", "sim",
                             calibration_head_m=steady.head_m)
    corrected = fixed = 0.0
    before = well.at(0.0)
    for t in range(60, 6 * 3600 + 1, 60):
        now = well.at(float(t))
        energy = now.energy_kwh - before.energy_kwh
        head = (total_head_m(before.level_m, HEAD) + total_head_m(now.level_m, HEAD)) / 2
        corrected += derived_volume(energy, calibrated, head, HEAD_RATIO).volume_m3
        fixed += derived_volume(energy, calibrated).volume_m3
        before = now
    true_volume = before.volume_m3
    corrected_error = abs(corrected - true_volume) / true_volume
    fixed_error = abs(fixed - true_volume) / true_volume
    assert corrected_error < 0.001  # (0.003 % here; the issue asks for 2 %)
    # k from the drawn-down head undercounts the shallow start of each run (3.9 % here).
    assert fixed_error > 0.02
    assert fixed < true_volume
