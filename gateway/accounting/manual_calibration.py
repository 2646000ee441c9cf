"""率定 as done with a portable clamp-on meter: start and end readings and times typed in.

An installer clamps an ultrasonic meter on the riser, notes its total and the energy meter's at
the start and at the end of a steady run, and types them (`wellgate calibrate --manual`). A run
has no samples in between, so its random uncertainty is that of the readings themselves, each a
rectangular distribution (GUM):
- each typed total is ± half its display resolution: u = r/√12 per reading, r/√6 per difference;
- the two meters are not read at the same instant (± `timing_s` at each end): the volume moves
  by Q·δt, u = Q · timing_s/√3 per end, √2 of that for the run;
these make the run's "statistical" part; the meters' stated accuracy is systematic as in
calibration.py, which combines repeated runs (and refuses a spread between them). Runs made at
different heads are not one coefficient: `combine_by_head` keeps each head band apart, so each
becomes its own point of k(H) (khead.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from gateway.accounting.calibration import (
    CalibrationParams,
    CalibrationRefused,
    CalibrationResult,
    _result,
    combine_runs,
)

T = TypeVar("T")
FIELDS = "START_TIME,START_M3,START_KWH,END_TIME,END_M3,END_KWH[,HEAD_M]"


@dataclass(frozen=True)
class ManualRun:
    """One run as typed: the portable meter's and the energy meter's totals at both ends."""

    start: float  # unix time
    start_m3: float
    start_kwh: float
    end: float
    end_m3: float
    end_kwh: float
    head_m: float | None = None  # total head during the run (level sensor or dipper + outlet)


@dataclass(frozen=True)
class ReadingPrecision:
    """How exactly the installer can read and time the meters."""

    volume_resolution_m3: float = 0.01
    energy_resolution_kwh: float = 0.01
    timing_s: float = 5.0


def parse_run(text: str) -> ManualRun:
    """A run from FIELDS (times ISO 8601 with their offset); ValueError saying what is wrong."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (6, 7):
        raise ValueError(f"{text!r}: expected {FIELDS} ({len(parts)} field(s) given)")
    times = []
    for name, part in (("START_TIME", parts[0]), ("END_TIME", parts[3])):
        try:
            when = datetime.fromisoformat(part)
        except ValueError:
            raise ValueError(f"{name} {part!r}: expected a date-time with its offset, e.g. "
                             "2026-06-01T08:00:00+08:00") from None
        if when.tzinfo is None:
            raise ValueError(f"{name} {part!r}: give its offset, e.g. +08:00")
        times.append(when.timestamp())
    numbers = []
    for name, part in zip(("START_M3", "START_KWH", "END_M3", "END_KWH", "HEAD_M"),
                          parts[1:3] + parts[4:], strict=False):
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"{name} {part!r}: expected a number") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} {part!r}: expected a number >= 0")
        numbers.append(value)
    head = numbers[4] if len(numbers) == 5 else None
    return ManualRun(times[0], numbers[0], numbers[1], times[1], numbers[2], numbers[3], head)


def evaluate_manual(run: ManualRun, params: CalibrationParams,
                    precision: ReadingPrecision) -> CalibrationResult:
    """k = ΔV/ΔE of one typed run with its uncertainty, or CalibrationRefused with every why."""
    duration, volume, energy = run.end - run.start, run.end_m3 - run.start_m3, (
        run.end_kwh - run.start_kwh)
    reasons = []
    if duration < params.min_duration_s:
        reasons.append(f"run lasted {duration:.0f} s, at least {params.min_duration_s:.0f} s "
                       "needed")
    if volume < params.min_volume_m3:
        reasons.append(f"volume {volume:.3f} m³, at least {params.min_volume_m3} m³ needed "
                       "(an end reading below the start: a typing error or a reset?)")
    if energy < params.min_energy_kwh:
        reasons.append(f"energy {energy:.3f} kWh, at least {params.min_energy_kwh} kWh needed")
    if reasons:
        raise CalibrationRefused(reasons)
    flow_m3s = volume / duration
    u_volume = precision.volume_resolution_m3 / math.sqrt(6) / volume
    u_energy = precision.energy_resolution_kwh / math.sqrt(6) / energy
    u_timing = math.sqrt(2) * flow_m3s * precision.timing_s / math.sqrt(3) / volume
    u_stat = math.sqrt(u_volume ** 2 + u_energy ** 2 + u_timing ** 2)
    return _result(volume / energy, volume, energy, duration, 1, 0.0, u_stat, run.head_m,
                   params)


def combine_by_head(runs: Sequence[tuple[T, CalibrationResult]], params: CalibrationParams,
                    head_band_m: float) -> list[tuple[list[T], CalibrationResult]]:
    """The runs grouped by head (within head_band_m of the group's lowest), each group combined
    by calibration.combine_runs: one coefficient per head, never one averaged over two water
    levels. Runs without a head are one group. Each group must have the runs required and agree
    within the allowed spread (CalibrationRefused naming the head otherwise)."""
    groups: list[list[tuple[T, CalibrationResult]]] = []
    for entry in sorted(runs, key=lambda e: (e[1].calibration_head_m is None,
                                             e[1].calibration_head_m or 0.0)):
        head = entry[1].calibration_head_m
        for group in groups:
            first = group[0][1].calibration_head_m
            if (head is None and first is None) or (
                    head is not None and first is not None and head - first < head_band_m):
                group.append(entry)
                break
        else:
            groups.append([entry])
    out, reasons = [], []
    for group in groups:
        try:
            combined = combine_runs([result for _, result in group], params)
        except CalibrationRefused as refused:
            first = group[0][1].calibration_head_m
            where = "" if first is None or len(groups) == 1 else f"at head {first:.1f} m: "
            reasons += [where + why for why in refused.reasons]
            continue
        out.append(([item for item, _ in group], combined))
    if reasons:
        raise CalibrationRefused(reasons)
    return out


def manual_params(params: CalibrationParams, runs_required: int | None) -> CalibrationParams:
    """The config's rules, with the runs required per head as asked on the command line."""
    return params if runs_required is None else replace(params, runs_required=runs_required)
