"""以电折水 k as a function of head: calibrations at different heads kept apart and fitted.

A real pump's k does not follow 367.1·η/H with a constant η: as the water table falls the pump
moves along its curve and its efficiency changes too. So calibrations made at different pumping
heads are not averaged into one k (nor is the newest taken alone): each is a point (H_cal, k, u)
and k(H) is the weighted least-squares line through them, weights 1/u² with u = U/2 each
calibration's standard uncertainty. Centred on the weighted mean head H̄:

    k(H) = k̄ + b · (H − H̄),   u²(H) = 1/Σw + (H − H̄)² / Σw(H − H̄)²

(with three or more points, both variances are scaled by the reduced χ² when it exceeds 1). The
newest calibration in each head band (`head_band_m`) stands for that head; the fit is used while
the coefficient valid at the time is one of its points (a later manual or imported k without a
head supersedes it). One calibration head only: k·H_cal/H as before. Before any calibration the
bureau's standard coefficient (standard.py) is used, uncorrected, and said to be so.

k is linear in H, so a record's energy-weighted mean head gives back exactly its volume.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.accounting.coefficient import Coefficient, CoefficientBook, corrected_k
from gateway.config.accounting import FIT, FIXED, HEAD_RATIO, HeadSection

KMODEL_VERSION = 1  # of the way k(H) is chosen here: on every derived record
STANDARD = "standard"  # the k_model of a volume derived from the bureau's table
_HEAD = HeadSection.model_fields
DEFAULT_RELATIVE_U = 0.02  # standard uncertainty of a calibration that states none


@dataclass(frozen=True)
class FitSettings:
    """How calibrations become points, and how far beyond them k may be carried."""

    head_band_m: float = _HEAD["head_band_m"].default
    extrapolation_margin_m: float = _HEAD["extrapolation_margin_m"].default


@dataclass(frozen=True)
class StandardK:
    """The bureau's standard coefficient for this well, used until it is calibrated."""

    k_m3_per_kwh: float
    uncertainty_m3_per_kwh: float | None
    source: str  # the table, its entry, and that it is not a calibration


@dataclass(frozen=True)
class HeadPoint:
    """One calibration as a point of k(H)."""

    head_m: float
    k: float
    u: float  # standard uncertainty of k, m³/kWh
    version: int


@dataclass(frozen=True)
class HeadLine:
    """The weighted line k(H) through two or more calibration heads."""

    points: tuple[HeadPoint, ...]
    mean_head: float
    mean_k: float
    slope: float  # m³/kWh per metre
    var_mean: float
    var_slope: float

    @property
    def low(self) -> float:
        return min(p.head_m for p in self.points)

    @property
    def high(self) -> float:
        return max(p.head_m for p in self.points)

    def k_at(self, head_m: float) -> float:
        return self.mean_k + self.slope * (head_m - self.mean_head)

    def u_at(self, head_m: float) -> float:
        """The standard uncertainty of k(H) from the fit."""
        return math.sqrt(self.var_mean + (head_m - self.mean_head) ** 2 * self.var_slope)


@dataclass(frozen=True)
class KChoice:
    """The k used for some energy, and everything a derived record says about it."""

    k: float
    model: str  # FIT, HEAD_RATIO, "efficiency", FIXED or STANDARD
    version: int  # the coefficient valid then (0: the standard table's)
    versions: tuple[int, ...] = ()  # the calibrations the fit went through
    uncertainty: float | None = None  # expanded (coverage factor 2), m³/kWh
    note: str | None = None
    beyond_m: float = 0.0  # how far the head was outside the calibrated heads
    calibrated: bool = True


def fit_points(book: CoefficientBook, at_time: float, settings: FitSettings) -> list[HeadPoint]:
    """The newest calibration in each head band, among those valid from before at_time."""
    points: list[HeadPoint] = []
    for c in sorted((c for c in book.versions if c.valid_from <= at_time),
                    key=lambda c: (c.valid_from, c.version), reverse=True):
        head = c.calibration_head_m
        if head is None or any(abs(p.head_m - head) < settings.head_band_m for p in points):
            continue
        u = (c.uncertainty_m3_per_kwh / 2 if c.uncertainty_m3_per_kwh
             else DEFAULT_RELATIVE_U * c.value_m3_per_kwh)
        points.append(HeadPoint(head, c.value_m3_per_kwh, u, c.version))
    return points


def fit_line(points: Sequence[HeadPoint]) -> HeadLine | None:
    """The weighted least-squares line through the points (None: fewer than two heads)."""
    if len(points) < 2:
        return None
    weights = [1 / p.u ** 2 for p in points]
    total = sum(weights)
    mean_head = sum(w * p.head_m for w, p in zip(weights, points, strict=True)) / total
    mean_k = sum(w * p.k for w, p in zip(weights, points, strict=True)) / total
    spread = sum(w * (p.head_m - mean_head) ** 2 for w, p in zip(weights, points, strict=True))
    if spread <= 0:
        return None
    slope = sum(w * (p.head_m - mean_head) * (p.k - mean_k)
                for w, p in zip(weights, points, strict=True)) / spread
    scale = 1.0
    if len(points) > 2:
        chi2 = sum(w * (p.k - mean_k - slope * (p.head_m - mean_head)) ** 2
                   for w, p in zip(weights, points, strict=True))
        scale = max(1.0, chi2 / (len(points) - 2))
    return HeadLine(tuple(sorted(points, key=lambda p: p.head_m)), mean_head, mean_k, slope,
                    scale / total, scale / spread)


def calibrated_heads(book: CoefficientBook, at_time: float,
                     settings: FitSettings) -> tuple[float, float] | None:
    """The lowest and highest calibration head in force at at_time (None: no calibration head)."""
    try:
        newest = book.valid_at(at_time)
    except LookupError:
        return None
    if newest.calibration_head_m is None:
        return None
    heads = [p.head_m for p in fit_points(book, at_time, settings)]
    return min(heads), max(heads)


def choose_k(book: CoefficientBook, at_time: float, head_m: float | None, head_model: str,
             max_head_ratio: float, settings: FitSettings,
             standard: StandardK | None = None) -> KChoice | None:
    """The k for energy used at at_time at this head (None: no coefficient and no standard)."""
    try:
        coefficient = book.valid_at(at_time)
    except LookupError:
        if standard is None:
            return None
        return KChoice(standard.k_m3_per_kwh, STANDARD, 0, (), standard.uncertainty_m3_per_kwh,
                       f"not calibrated: the standard coefficient ({standard.source})",
                       calibrated=False)
    if head_model == FIT and coefficient.calibration_head_m is not None:
        line = fit_line(fit_points(book, at_time, settings))
        if line is not None:
            return _from_line(line, coefficient, head_m, max_head_ratio)
    model = HEAD_RATIO if head_model == FIT else head_model
    k, note = corrected_k(coefficient, head_m, model, max_head_ratio)
    u = coefficient.uncertainty_m3_per_kwh
    beyond = 0.0
    if note is None and model != FIXED and head_m is not None and coefficient.calibration_head_m:
        beyond = abs(head_m - coefficient.calibration_head_m)
    return KChoice(k, model if note is None else FIXED, coefficient.version,
                   (coefficient.version,), None if u is None else u * k
                   / coefficient.value_m3_per_kwh, note, beyond)


def _from_line(line: HeadLine, newest: Coefficient, head_m: float | None,
               max_head_ratio: float) -> KChoice:
    versions = tuple(p.version for p in line.points)
    usable = (head_m is not None and math.isfinite(head_m)
              and line.low / max_head_ratio <= head_m <= line.high * max_head_ratio)
    if not usable or head_m is None:
        return KChoice(newest.value_m3_per_kwh, FIXED, newest.version, versions,
                       newest.uncertainty_m3_per_kwh,
                       f"head {head_m!r} m is no usable head for the fit over "
                       f"{line.low:.2f}..{line.high:.2f} m (level sensor fault?): k not "
                       "corrected")
    beyond = max(line.low - head_m, head_m - line.high, 0.0)
    return KChoice(line.k_at(head_m), FIT, newest.version, versions, 2 * line.u_at(head_m),
                   None, beyond)
