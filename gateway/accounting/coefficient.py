"""以电折水: versioned conversion coefficients k (m³/kWh), head correction and derived volumes."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from gateway.config.accounting import (
    EFFICIENCY,
    FIXED,
    HEAD_MODELS,
    HEAD_RATIO,
    METHODS,
    HeadSection,
)

# k = 3.6e6 · η / (ρ · g · H) with ρ = 1000 kg/m³, g = 9.80665 m/s² (shared/domain/water.md).
HYDRAULIC_CONSTANT = 3.6e6 / (1000.0 * 9.80665)  # ≈ 367.1
# The head models (FIXED, HEAD_RATIO, EFFICIENCY) and coefficient METHODS are the config schema's
# choices, and the head's defaults its defaults (gateway.config.accounting).
_HEAD = {name: field.default for name, field in HeadSection.model_fields.items()}
MAX_HEAD_RATIO: float = _HEAD["max_head_ratio"]


@dataclass(frozen=True)
class HeadParameters:
    """How to get a well's total pumping head from its level transmitter."""

    sensor_depth_m: float  # depth of the level transmitter below ground
    outlet_height_m: float = _HEAD["outlet_height_m"]  # height of the outlet above ground
    friction_head_m: float = _HEAD["friction_head_m"]  # outlet pressure and friction, constant
    model: str = HEAD_RATIO  # one of HEAD_MODELS, as the schema's default
    max_head_ratio: float = MAX_HEAD_RATIO  # beyond H_cal × or ÷ this: sensor fault, no correction

    def __post_init__(self) -> None:
        if not self.sensor_depth_m > 0:
            raise ValueError(f"sensor_depth_m must be > 0, got {self.sensor_depth_m}")
        if self.outlet_height_m < 0 or self.friction_head_m < 0:
            raise ValueError(
                f"outlet_height_m and friction_head_m must be >= 0, got "
                f"{self.outlet_height_m} and {self.friction_head_m}"
            )
        if self.model not in HEAD_MODELS:
            raise ValueError(f"head model {self.model!r} is not one of {HEAD_MODELS}")
        if not self.max_head_ratio > 1:
            raise ValueError(f"max_head_ratio must be > 1, got {self.max_head_ratio}")


def depth_to_water_m(level_m: float, params: HeadParameters) -> float:
    """Depth of the water surface below ground: sensor depth − water column above the sensor."""
    if not math.isfinite(level_m) or level_m < 0:
        raise ValueError(f"level must be a water column >= 0 m above the sensor, got {level_m}")
    depth = params.sensor_depth_m - level_m
    if depth < 0:
        raise ValueError(
            f"level {level_m} m is above ground for a sensor {params.sensor_depth_m} m deep"
        )
    return depth


def total_head_m(level_m: float, params: HeadParameters) -> float:
    """Total head H = depth to the pumping water level + outlet height + friction head."""
    return depth_to_water_m(level_m, params) + params.outlet_height_m + params.friction_head_m


@dataclass(frozen=True)
class Coefficient:
    """One version of a well's conversion coefficient and where it came from."""

    version: int
    value_m3_per_kwh: float  # k
    valid_from: float  # unix time from which it applies
    method: str  # one of METHODS
    source: str  # the data it came from: calibration run ids, a document, an import file
    efficiency: float | None = None  # calibrated wire-to-water η
    calibration_head_m: float | None = None  # H_cal: the head k was measured at
    uncertainty_m3_per_kwh: float | None = None  # expanded uncertainty (coverage factor 2)

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValueError(f"coefficient version must be >= 1, got {self.version}")
        if not (math.isfinite(self.value_m3_per_kwh) and self.value_m3_per_kwh > 0):
            raise ValueError(f"coefficient must be > 0 m³/kWh, got {self.value_m3_per_kwh}")
        if self.method not in METHODS:
            raise ValueError(f"coefficient method {self.method!r} is not one of {METHODS}")
        if self.efficiency is not None and not 0 < self.efficiency <= 1:
            raise ValueError(f"efficiency must be in (0, 1], got {self.efficiency}")
        if self.calibration_head_m is not None and not self.calibration_head_m > 0:
            raise ValueError(f"calibration_head_m must be > 0, got {self.calibration_head_m}")


class CoefficientBook:
    """A well's coefficients: which applies at a time, and revisions as new versions."""

    def __init__(self, coefficients: Iterable[Coefficient] = ()) -> None:
        self._by_version: dict[int, Coefficient] = {}
        for coefficient in coefficients:
            self.add(coefficient)

    @property
    def versions(self) -> tuple[Coefficient, ...]:
        """Every coefficient, oldest version first."""
        return tuple(self._by_version[v] for v in sorted(self._by_version))

    def add(self, coefficient: Coefficient) -> None:
        """Add a coefficient whose version is not yet in the book."""
        if coefficient.version in self._by_version:
            raise ValueError(f"coefficient version {coefficient.version} is already in the book")
        self._by_version[coefficient.version] = coefficient

    def revise(
        self, value_m3_per_kwh: float, valid_from: float, method: str, source: str, **details: Any
    ) -> Coefficient:
        """Add the next version: from valid_from on, it supersedes every older one."""
        version = max(self._by_version, default=0) + 1
        coefficient = Coefficient(version, value_m3_per_kwh, valid_from, method, source, **details)
        self.add(coefficient)
        return coefficient

    def valid_at(self, at_time: float) -> Coefficient:
        """The coefficient with the latest valid_from <= at_time (a revision wins a tie)."""
        candidates = [c for c in self._by_version.values() if c.valid_from <= at_time]
        if not candidates:
            first = min((c.valid_from for c in self._by_version.values()), default=None)
            raise LookupError(f"no coefficient is valid at {at_time}; the first is from {first}")
        return max(candidates, key=lambda c: (c.valid_from, c.version))

    def span(self, version: int) -> tuple[float, float | None]:
        """[start, end) of the time this version is the valid one (end None: still open)."""
        mine = self._by_version[version]
        others = [c for c in self._by_version.values() if c.version != version]
        if any(c.valid_from == mine.valid_from and c.version > version for c in others):
            return mine.valid_from, mine.valid_from  # revised from the same time: valid nowhere
        ends = [c.valid_from for c in others if c.valid_from > mine.valid_from]
        return mine.valid_from, min(ends) if ends else None

    def needs_recompute(self, made_by_version: int, at_time: float) -> bool:
        """Whether a volume derived at at_time by this version is stale after a revision."""
        return self.valid_at(at_time).version != made_by_version

    def to_state(self) -> list[dict[str, Any]]:
        """Every coefficient as a plain dict, oldest version first."""
        return [asdict(c) for c in self.versions]

    @classmethod
    def from_state(cls, state: Iterable[dict[str, Any]]) -> CoefficientBook:
        """A book from to_state()'s output."""
        return cls(Coefficient(**entry) for entry in state)


@dataclass(frozen=True)
class DerivedVolume:
    """A volume derived from energy, naming the coefficient and head model that made it."""

    volume_m3: float
    energy_kwh: float
    coefficient_version: int
    k_m3_per_kwh: float  # the k actually used (after any head correction)
    head_model: str  # the model asked for (the config's); FIXED is applied when note says why
    head_m: float | None
    note: str | None = None  # why the head correction asked for was not applied


def corrected_k(
    coefficient: Coefficient, head_m: float | None, head_model: str,
    max_head_ratio: float = MAX_HEAD_RATIO,
) -> tuple[float, str | None]:
    """k at this head by the model, and why it was not corrected (None when it was, or FIXED)."""
    if head_model not in HEAD_MODELS:
        raise ValueError(f"head model {head_model!r} is not one of {HEAD_MODELS}")
    k = coefficient.value_m3_per_kwh
    if head_model == FIXED:
        return k, None
    h_cal = coefficient.calibration_head_m
    if head_model == EFFICIENCY and coefficient.efficiency is not None and h_cal is None:
        h_cal = HYDRAULIC_CONSTANT * coefficient.efficiency / k  # the head where k and η agree
    if h_cal is None:
        return k, f"coefficient v{coefficient.version} has no calibration head or η: not corrected"
    if head_m is None or not math.isfinite(head_m) or head_m <= 0:
        return k, f"no usable head ({head_m!r}): k not corrected"
    if not h_cal / max_head_ratio <= head_m <= h_cal * max_head_ratio:
        return k, (
            f"head {head_m:.2f} m is beyond {max_head_ratio}× the calibration head "
            f"{h_cal:.2f} m (level sensor fault?): k not corrected"
        )
    if head_model == EFFICIENCY and coefficient.efficiency is not None:
        return HYDRAULIC_CONSTANT * coefficient.efficiency / head_m, None
    return k * h_cal / head_m, None


def derived_volume(
    energy_kwh: float,
    coefficient: Coefficient,
    head_m: float | None = None,
    head_model: str = FIXED,
    max_head_ratio: float = MAX_HEAD_RATIO,
) -> DerivedVolume:
    """Volume pumped with energy_kwh: energy × k(H), recording the coefficient version used."""
    if not (math.isfinite(energy_kwh) and energy_kwh >= 0):
        raise ValueError(f"energy must be >= 0 kWh, got {energy_kwh}")
    k, note = corrected_k(coefficient, head_m, head_model, max_head_ratio)
    return DerivedVolume(
        energy_kwh * k, energy_kwh, coefficient.version, k, head_model, head_m, note
    )


def recompute(
    volume: DerivedVolume, coefficient: Coefficient, max_head_ratio: float = MAX_HEAD_RATIO
) -> DerivedVolume:
    """The same energy, head and head model through another (revised) coefficient."""
    return derived_volume(
        volume.energy_kwh, coefficient, volume.head_m, volume.head_model, max_head_ratio
    )
