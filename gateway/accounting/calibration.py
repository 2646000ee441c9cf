"""Calibration (率定) of k = ΣV/ΣE against a reference flow meter: checks, η, uncertainty, runs.

Uncertainty (GUM style, relative standard uncertainties combined in quadrature):
- statistical: the run is split into `sub_intervals` equal-time parts, k_j = ΔV_j/ΔE_j, and
  u_stat = s(k_j)/√n / k (the standard error of the mean of the parts);
- each meter's stated accuracy ±a % is taken as the half-width of a rectangular distribution:
  u = a/100/√3, for the reference flow meter and the energy meter;
- several runs: u_stat is the larger of the between-run standard error s(k_r)/√m and the runs'
  own u_stat combined by energy weight; the meters' accuracy is systematic and is not averaged.
The expanded uncertainty is U = coverage_factor × u_c × k (coverage factor 2, about 95 %).
η = k · H_cal / 367.1 with H_cal the energy-weighted harmonic mean head, so k(H) = k · H_cal / H;
its uncertainty adds the head's standard uncertainty `head_uncertainty_m` / H_cal.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from gateway.accounting.coefficient import HYDRAULIC_CONSTANT, Coefficient, CoefficientBook
from gateway.config import CalibrationSection

_CONFIGURED = CalibrationSection()  # each rule a config can set defaults to the schema's value

Part = tuple[int, int, float, float]  # first and last sample index, ΔV m³, ΔE kWh


@dataclass(frozen=True)
class CalibrationParams:
    """What a calibration run must satisfy, and the meters' stated accuracy."""

    # the national guide's rule was not found: configurable
    min_duration_s: float = _CONFIGURED.min_duration_s
    min_energy_kwh: float = _CONFIGURED.min_energy_kwh
    min_volume_m3: float = _CONFIGURED.min_volume_m3
    # equal-time parts for the stability check and u_stat
    sub_intervals: int = _CONFIGURED.sub_intervals
    # (max − min) of the parts' k ÷ the run's k
    max_relative_spread: float = _CONFIGURED.max_relative_spread
    # each part's (and sample's) power ≥ this × the median
    min_running_fraction: float = _CONFIGURED.min_running_fraction
    # reference flow meter's stated maximum error, ± %
    reference_accuracy_percent: float = _CONFIGURED.reference_accuracy_percent
    # energy meter's class, ± %
    energy_accuracy_percent: float = _CONFIGURED.energy_accuracy_percent
    # standard uncertainty of the head from the level sensor
    head_uncertainty_m: float = _CONFIGURED.head_uncertainty_m
    runs_required: int = _CONFIGURED.runs_required
    # (max − min) of the runs' k ÷ the combined k
    max_spread_between_runs: float = _CONFIGURED.max_spread_between_runs
    coverage_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.sub_intervals < 2:
            raise ValueError(f"sub_intervals must be >= 2, got {self.sub_intervals}")
        if self.runs_required < 1:
            raise ValueError(f"runs_required must be >= 1, got {self.runs_required}")


@dataclass(frozen=True)
class CalibrationSample:
    """One instant of a run: both meters' totals, and the head where a level sensor gives it."""

    time_s: float
    reference_volume_m3: float  # the reference flow meter's total
    energy_kwh: float  # the energy meter's total
    head_m: float | None = None
    power_kw: float | None = None  # instantaneous power, where the energy meter gives it


@dataclass(frozen=True)
class CalibrationResult:
    """k from one run, or from several combined, with its uncertainty and η where head is known."""

    k_m3_per_kwh: float
    expanded_uncertainty: float  # U in m³/kWh, coverage factor as configured
    volume_m3: float
    energy_kwh: float
    duration_s: float
    runs: int
    spread: float  # relative spread of the parts' k (one run) or of the runs' k (combined)
    relative_uncertainties: dict[str, float]  # standard, by source: statistical, reference, energy
    calibration_head_m: float | None = None  # H_cal
    efficiency: float | None = None  # η
    efficiency_expanded_uncertainty: float | None = None

    @property
    def standard_uncertainty(self) -> float:
        """u_c of k in m³/kWh."""
        return self.k_m3_per_kwh * math.hypot(*self.relative_uncertainties.values())


class CalibrationRefused(ValueError):
    """A run or set of runs that cannot give a coefficient; `reasons` says every why."""

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("calibration refused: " + "; ".join(self.reasons))


def running_estimate(samples: Sequence[CalibrationSample]) -> float | None:
    """ΣV/ΣE so far, for the live display (None until energy has moved)."""
    if len(samples) < 2:
        return None
    energy = samples[-1].energy_kwh - samples[0].energy_kwh
    volume = samples[-1].reference_volume_m3 - samples[0].reference_volume_m3
    return volume / energy if energy > 0 else None


def evaluate_run(
    samples: Sequence[CalibrationSample], params: CalibrationParams
) -> CalibrationResult:
    """k = ΣV/ΣE of one run with its uncertainty, or CalibrationRefused with every reason."""
    _check_series(samples)
    first, last = samples[0], samples[-1]
    duration = last.time_s - first.time_s
    volume = last.reference_volume_m3 - first.reference_volume_m3
    energy = last.energy_kwh - first.energy_kwh
    reasons = []
    if duration < params.min_duration_s:
        reasons.append(
            f"run lasted {duration:.0f} s, at least {params.min_duration_s:.0f} s needed"
        )
    if energy < params.min_energy_kwh:
        reasons.append(f"energy {energy:.3f} kWh, at least {params.min_energy_kwh} kWh needed")
    if volume < params.min_volume_m3:
        reasons.append(f"volume {volume:.3f} m³, at least {params.min_volume_m3} m³ needed")
    parts = _parts(samples, params.sub_intervals)
    if parts is None:
        reasons.append(
            f"too few samples ({len(samples)}) to split into {params.sub_intervals} parts"
        )
        raise CalibrationRefused(reasons)
    reasons += _stopped(samples, parts, params)
    if reasons:
        raise CalibrationRefused(reasons)
    k = volume / energy
    part_k = [dv / de for _, _, dv, de in parts]
    spread = (max(part_k) - min(part_k)) / k
    if spread > params.max_relative_spread:
        why = (
            f"unstable: k of the {len(parts)} parts spans {spread:.1%} of k, at most "
            f"{params.max_relative_spread:.1%} allowed (pumping not steady yet, or a meter's "
            "resolution too coarse for parts this short)"
        )
        raise CalibrationRefused([why])
    u_stat = statistics.stdev(part_k) / math.sqrt(len(part_k)) / k
    head = _harmonic_head(samples, parts)
    return _result(k, volume, energy, duration, 1, spread, u_stat, head, params)


def combine_runs(runs: Sequence[CalibrationResult], params: CalibrationParams) -> CalibrationResult:
    """One coefficient from several accepted runs, refusing too few or too scattered runs."""
    if len(runs) < params.runs_required:
        raise CalibrationRefused(
            [f"{len(runs)} run(s), the config requires {params.runs_required}"]
        )
    volume = sum(r.volume_m3 for r in runs)
    energy = sum(r.energy_kwh for r in runs)
    k = volume / energy
    ks = [r.k_m3_per_kwh for r in runs]
    spread = (max(ks) - min(ks)) / k
    if spread > params.max_spread_between_runs:
        listed = ", ".join(f"{x:.4f}" for x in ks)
        why = (
            f"runs disagree: k = {listed} m³/kWh spans {spread:.1%}, at most "
            f"{params.max_spread_between_runs:.1%} allowed"
        )
        raise CalibrationRefused([why])
    within = (
        math.sqrt(sum((r.energy_kwh * r.relative_uncertainties["statistical"]) ** 2 for r in runs))
        / energy
    )
    between = statistics.stdev(ks) / math.sqrt(len(ks)) / k if len(ks) > 1 else 0.0
    head = None
    if all(r.calibration_head_m is not None for r in runs):
        # η from each run, energy-weighted; H_cal is the head at which that η gives k.
        eta = sum(r.energy_kwh * r.efficiency for r in runs) / energy  # type: ignore[operator]
        head = eta * HYDRAULIC_CONSTANT / k
    duration = sum(r.duration_s for r in runs)
    return _result(
        k, volume, energy, duration, len(runs), spread, max(within, between), head, params
    )


def _result(
    k: float,
    volume: float,
    energy: float,
    duration: float,
    runs: int,
    spread: float,
    u_stat: float,
    head: float | None,
    params: CalibrationParams,
) -> CalibrationResult:
    relative = {
        "statistical": u_stat,
        "reference": params.reference_accuracy_percent / 100 / math.sqrt(3),
        "energy": params.energy_accuracy_percent / 100 / math.sqrt(3),
    }
    u_c = math.hypot(*relative.values())
    eta = eta_u = None
    if head is not None:
        eta = k * head / HYDRAULIC_CONSTANT
        eta_u = params.coverage_factor * eta * math.hypot(u_c, params.head_uncertainty_m / head)
    expanded = params.coverage_factor * u_c * k
    return CalibrationResult(
        k, expanded, volume, energy, duration, runs, spread, relative, head, eta, eta_u
    )


def _check_series(samples: Sequence[CalibrationSample]) -> None:
    """Refuse samples that are not one forward-moving run."""
    if len(samples) < 2:
        raise CalibrationRefused([f"{len(samples)} sample(s): a run needs a start and an end"])
    reasons = []
    for a, b in pairwise(samples):
        if b.time_s <= a.time_s:
            reasons.append(f"time does not advance at {b.time_s} s (after {a.time_s} s)")
        if b.reference_volume_m3 < a.reference_volume_m3:
            reasons.append(
                f"reference total fell at {b.time_s} s ({a.reference_volume_m3} → "
                f"{b.reference_volume_m3}): reset or rollover during the run"
            )
        if b.energy_kwh < a.energy_kwh:
            reasons.append(f"energy total fell at {b.time_s} s ({a.energy_kwh} → {b.energy_kwh})")
    if reasons:
        raise CalibrationRefused(reasons[:5])


def _parts(samples: Sequence[CalibrationSample], n: int) -> list[Part] | None:
    """(first index, last index, ΔV, ΔE) of n equal-time parts; None if samples are too sparse."""
    t0, t1 = samples[0].time_s, samples[-1].time_s
    bounds, i = [0], 0
    for j in range(1, n):
        target = t0 + (t1 - t0) * j / n
        while samples[i].time_s < target:
            i += 1
        bounds.append(i)
    bounds.append(len(samples) - 1)
    if any(b <= a for a, b in pairwise(bounds)):
        return None
    return [
        (
            a,
            b,
            samples[b].reference_volume_m3 - samples[a].reference_volume_m3,
            samples[b].energy_kwh - samples[a].energy_kwh,
        )
        for a, b in pairwise(bounds)
    ]


def _stopped(
    samples: Sequence[CalibrationSample],
    parts: list[Part],
    params: CalibrationParams,
) -> list[str]:
    """Reasons to believe the pump did not run throughout."""
    power = [de / (samples[b].time_s - samples[a].time_s) * 3600 for a, b, _, de in parts]
    floor = params.min_running_fraction * statistics.median(power)
    reasons = [
        f"pump not running throughout: part {j + 1} of {len(parts)} drew {p:.2f} kW, "
        f"below {floor:.2f} kW"
        for j, p in enumerate(power)
        if p < floor or p <= 0
    ]
    reasons += [
        f"no reference volume in part {j + 1} of {len(parts)}"
        for j, (_, _, dv, _) in enumerate(parts)
        if dv <= 0
    ]
    read = [s.power_kw for s in samples if s.power_kw is not None]
    if read:
        low = [
            s
            for s in samples
            if s.power_kw is not None
            and s.power_kw < params.min_running_fraction * statistics.median(read)
        ]
        if low:
            reasons.append(
                f"pump not running throughout: power {low[0].power_kw:.2f} kW at "
                f"{low[0].time_s:.0f} s ({len(low)} sample(s) low)"
            )
    return reasons


def _harmonic_head(samples: Sequence[CalibrationSample], parts: list[Part]) -> float | None:
    """H_cal = ΣE / Σ(E_j / H_j): the head at which 367.1·η/H equals ΣV/ΣE (None: no head)."""
    if any(s.head_m is None or s.head_m <= 0 for s in samples):
        return None
    weighted = 0.0
    for a, b, _, de in parts:
        heads = [s.head_m for s in samples[a : b + 1]]
        weighted += de / (sum(heads) / len(heads))  # type: ignore[arg-type]
    return sum(de for *_, de in parts) / weighted


def revise_book(
    book: CoefficientBook, result: CalibrationResult, valid_from: float, source: str
) -> Coefficient:
    """Store a confirmed calibration as the book's next coefficient version."""
    return book.revise(
        result.k_m3_per_kwh,
        valid_from,
        "calibration",
        source,
        efficiency=result.efficiency,
        calibration_head_m=result.calibration_head_m,
        uncertainty_m3_per_kwh=result.expanded_uncertainty,
    )
