"""One calibration of a well (`wellgate calibrate`), from the setup checks to the stored version.

The command line only collects the options, shows progress and asks for confirmation; this module
checks that the config allows a calibration, runs the runs over the store (calibrate.py), words
each outcome and stores a confirmed result as the well's next coefficient version.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.accounting.calibrate import (
    Progress,
    SampleTail,
    Sources,
    coefficient_record,
    new_coefficient,
    next_version,
    run_runs,
    sources_of,
    store_coefficient,
)
from gateway.accounting.calibration import CalibrationParams, CalibrationRefused, CalibrationResult
from gateway.accounting.manual_calibration import (
    FIELDS,
    ManualRun,
    ReadingPrecision,
    combine_by_head,
    evaluate_manual,
    manual_params,
    parse_run,
)
from gateway.accounting.plan import AccountingPlan, build_plan, calibration_params
from gateway.store import DB_FILE, queries

Report = Callable[[int, CalibrationResult | None, str], None]  # attempt, result or None, reasons


class CalibrationSetupError(ValueError):
    """The config or the options do not allow a calibration; the message says why."""


@dataclass(frozen=True)
class CalibrationSetup:
    """What one calibration reads and how long it runs, checked against the config."""

    config: Any  # the loaded GatewayConfig (accounting does not import the config module)
    plan: AccountingPlan
    sources: Sources
    params: CalibrationParams  # runs_required: the runs this calibration combines
    duration_s: float  # seconds of readings per run
    timeout_s: float  # real seconds after which a run is given up

    @property
    def runs(self) -> int:
        return self.params.runs_required

    @property
    def state_dir(self) -> Path:
        return Path(self.config.gateway.state_dir)

    @property
    def store_file(self) -> Path:
        return self.state_dir / DB_FILE


def prepare_calibration(config: Any, config_name: str, duration_s: float | None = None,
                        runs: int | None = None,
                        timeout_s: float | None = None) -> CalibrationSetup:
    """The setup of a calibration with these options (None: the config's), or
    CalibrationSetupError naming the option or the config key that prevents it."""
    accounting = config.well.accounting
    if accounting is None or accounting.calibration.reference_device is None:
        raise CalibrationSetupError(f"{config_name} names no reference flow meter: set "
                                    "[well.accounting.calibration] reference_device")
    settings = accounting.calibration
    params = calibration_params(settings)
    length = params.min_duration_s if duration_s is None else duration_s
    if length < params.min_duration_s:
        raise CalibrationSetupError(
            f"--duration {length:g} s is shorter than the {params.min_duration_s:g} s a run must "
            "last (min_duration_s)")
    plan = build_plan(config)
    try:
        sources = sources_of(plan, settings.reference_device)
    except ValueError as exc:
        raise CalibrationSetupError(str(exc)) from None
    params = replace(params, runs_required=runs or params.runs_required)
    return CalibrationSetup(config, plan, sources, params, length,
                            timeout_s if timeout_s is not None else 2 * length + 60)


class CalibrationSession:
    """The runs of one calibration, over the readings committed after it starts."""

    def __init__(self, setup: CalibrationSetup, conn: sqlite3.Connection) -> None:
        self.setup, self.conn = setup, conn
        start = queries.seq_span(conn)[0]  # the newest committed seq (0: none yet)
        self.tail = SampleTail(conn, setup.sources, start)

    def intro(self) -> str:
        setup = self.setup
        return (f"calibrating {setup.config.well.id}: reference {setup.sources.reference}, "
                f"energy {setup.sources.energy}; {setup.runs} run(s) of {setup.duration_s:g} s "
                "of readings, pump running steadily throughout")

    def run(self, progress: Progress, report: Report, wait: Callable[[], None]
            ) -> list[tuple[list[dict[str, Any]], CalibrationResult]]:
        """Runs until enough are accepted, combined per head band (CalibrationRefused: too many
        refused, or a head band with too few runs)."""
        setup = self.setup
        head = setup.config.well.accounting.head
        return run_runs(self.tail, setup.params, setup.duration_s, setup.runs, progress, report,
                        wait, setup.timeout_s, max_attempts=2 * setup.runs + 1,
                        head_band_m=head.head_band_m if head is not None else math.inf)

    def next_version(self) -> int:
        return next_version(self.conn, self.setup.plan)

    def store(self, version: int, result: CalibrationResult, runs: list[dict[str, Any]],
              now: float | None = None) -> int:
        """Store the result as coefficient `version`, valid from `now`; returns its seq."""
        now = time.time() if now is None else now
        sources = self.setup.sources
        source = (f"calibration {datetime.fromtimestamp(now).isoformat(timespec='seconds')} "
                  f"against {sources.reference}: {result.runs} run(s), {result.volume_m3:.3f} "
                  f"m³, {result.energy_kwh:.3f} kWh")
        coefficient = new_coefficient(version, result, now, source)
        return store_coefficient(self.setup.state_dir,
                                 coefficient_record(coefficient, result, sources, runs))


def describe_run(attempt: int, result: CalibrationResult | None, reasons: str) -> str:
    """One run's outcome: accepted with its k, or refused and why."""
    if result is None:
        return f"run {attempt} refused: {reasons}"
    return (f"run {attempt} accepted: k = {result.k_m3_per_kwh:.4f} ± "
            f"{result.expanded_uncertainty:.4f} m³/kWh from {result.volume_m3:.3f} m³ and "
            f"{result.energy_kwh:.3f} kWh in {result.duration_s:.0f} s (parts spread "
            f"{result.spread:.1%})")


def describe_result(result: CalibrationResult, params: CalibrationParams) -> str:
    """The combined result: k (and η where the head is known) with its uncertainty."""
    line = (f"result: k = {result.k_m3_per_kwh:.4f} ± {result.expanded_uncertainty:.4f} m³/kWh "
            f"(coverage factor {params.coverage_factor:g}; {result.runs} run(s), spread "
            f"{result.spread:.1%}; {result.volume_m3:.3f} m³, {result.energy_kwh:.3f} kWh)")
    if result.efficiency is not None:
        line += (f"; η = {result.efficiency:.3f} ± {result.efficiency_expanded_uncertainty:.3f} "
                 f"at H_cal {result.calibration_head_m:.2f} m")
    return line


def manual_calibration(config: Any, texts: list[str], runs: int | None
                       ) -> tuple[AccountingPlan, list[tuple[list[ManualRun], CalibrationResult]]]:
    """Typed runs of a portable meter (`--manual`), judged and combined per head band;
    CalibrationSetupError for a run that cannot be read, CalibrationRefused for one refused."""
    accounting = config.well.accounting
    if accounting is None:
        raise CalibrationSetupError("the config has no [well.accounting] table")
    if not texts:
        raise CalibrationSetupError(f"give each run as --run {FIELDS}")
    try:
        typed = [parse_run(text) for text in texts]
    except ValueError as exc:
        raise CalibrationSetupError(f"--run {exc}") from None
    settings = accounting.calibration
    params = manual_params(calibration_params(settings), runs)
    precision = ReadingPrecision(settings.manual_reading_resolution_m3, 0.01,
                                 settings.manual_timing_uncertainty_s)
    judged, reasons = [], []
    for number, run in enumerate(typed, 1):
        try:
            judged.append((run, evaluate_manual(run, params, precision)))
        except CalibrationRefused as refused:
            reasons += [f"run {number}: {why}" for why in refused.reasons]
    if reasons:
        raise CalibrationRefused(reasons)
    band = accounting.head.head_band_m if accounting.head is not None else math.inf
    return build_plan(config), combine_by_head(judged, params, band)


def store_manual(config: Any, plan: AccountingPlan, version: int, result: CalibrationResult,
                 runs: list[ManualRun], now: float | None = None) -> int:
    """Store one head's result as coefficient `version`, valid from `now`; returns its seq."""
    now = time.time() if now is None else now
    energy = plan.energy.device if plan.energy is not None else "energy meter"
    sources = Sources("portable meter (typed readings)", energy, plan.level_device, plan.head)
    source = (f"manual calibration {datetime.fromtimestamp(now).isoformat(timespec='seconds')}"
              f" with a portable meter: {result.runs} run(s), {result.volume_m3:.3f} m³, "
              f"{result.energy_kwh:.3f} kWh")
    summaries = [asdict(run) for run in runs]
    return store_coefficient(Path(config.gateway.state_dir),
                             coefficient_record(new_coefficient(version, result, now, source),
                                                result, sources, summaries))
