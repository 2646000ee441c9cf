"""`wellgate calibrate`: 率定 runs against a reference flow meter, read live from the store.

The running gateway polls the temporarily installed reference meter like any other device, so
its readings, the pump's energy meter and the level transmitter are all in the store. A run
takes the samples committed after it starts: each energy reading becomes one sample, with the
reference total interpolated to its time (the two meters are polled at different instants) and
the head from the latest level reading. The pure core (calibration.py) judges each run and
combines the runs; a confirmed result is written to the store as a `coefficient` record, which
the accounting room takes up as the well's next coefficient version.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gateway.accounting.calibration import (
    CalibrationParams,
    CalibrationRefused,
    CalibrationResult,
    CalibrationSample,
    evaluate_run,
    running_estimate,
)
from gateway.accounting.coefficient import Coefficient, HeadParameters
from gateway.accounting.commands import append_command
from gateway.accounting.manual_calibration import combine_by_head
from gateway.accounting.plan import AccountingPlan, to_base
from gateway.accounting.records import (
    KIND_COEFFICIENT,
    WELL_DEVICE,
    latest_checkpoint,
)
from gateway.store.queries import latest_record, records_after
from gateway.store.records import NewRecord, Record

POINT_VOLUME = "forward_total"


@dataclass(frozen=True)
class Sources:
    """Which stored points a calibration reads."""

    reference: str  # the reference flow meter's device (its forward_total)
    energy: str  # the pump's energy meter (import_energy, active_power)
    level: str | None
    head: HeadParameters | None


def sources_of(plan: AccountingPlan, reference: str) -> Sources:
    if plan.energy is None:
        raise ValueError("the well has no energy meter with import_energy: nothing to calibrate")
    return Sources(reference, plan.energy.device, plan.level_device, plan.head)


class SampleTail:
    """Turns committed records after a seq into calibration samples, as they arrive."""

    def __init__(self, conn: sqlite3.Connection, sources: Sources, after_seq: int,
                 look_back: int = 5000) -> None:
        self.conn, self.sources, self.cursor = conn, sources, after_seq
        self._reference: list[tuple[float, float]] = []  # (time, m³), the newest two kept
        self._pending: list[tuple[float, float, float | None, float | None]] = []
        self._power: float | None = None
        self._head: float | None = None
        self._unread: list[CalibrationSample] = []
        for record in records_after(conn, max(after_seq - look_back, 0), look_back,
                                    through=after_seq):  # the latest power and head before
            if (record.device, record.point) in ((sources.energy, "active_power"),
                                                 (sources.level, "level")):
                self._take(record)

    def unread(self, samples: list[CalibrationSample]) -> None:
        """Give samples back: the next poll returns them first (the next run's start)."""
        self._unread = samples + self._unread

    def poll(self) -> list[CalibrationSample]:
        """The samples that can be made from what was committed since the last poll."""
        out, self._unread = self._unread, []
        while True:
            batch = records_after(self.conn, self.cursor, 5000)
            if not batch:
                return out
            for record in batch:
                self.cursor = record.seq
                out += self._take(record)

    def _take(self, record: Record) -> list[CalibrationSample]:
        value, t, src = record.value, record.wall_time, self.sources
        if record.kind != "reading" or t is None or not isinstance(value, int | float) or (
                record.quality == "invalid"):
            return []
        unit = record.unit or ""
        key = (record.device, record.point)
        if key == (src.energy, "active_power"):
            self._power = to_base(float(value), unit)
        elif key == (src.level, "level") and src.head is not None:
            level = to_base(float(value), unit)
            self._head = (src.head.sensor_depth_m - level + src.head.outlet_height_m
                          + src.head.friction_head_m)
        elif key == (src.energy, "import_energy"):
            self._pending.append((t, to_base(float(value), unit), self._head, self._power))
        elif key == (src.reference, POINT_VOLUME):
            self._reference = [*self._reference[-1:], (t, to_base(float(value), unit))]
        return self._ready()

    def _ready(self) -> list[CalibrationSample]:
        """Energy readings now bracketed by two reference readings, with the total between."""
        if len(self._reference) < 2:
            return []
        (t0, v0), (t1, v1) = self._reference
        ready, keep = [], []
        for t, energy, head, power in self._pending:
            if t > t1:
                keep.append((t, energy, head, power))
            elif t >= t0 and t1 > t0:
                volume = v0 + (v1 - v0) * (t - t0) / (t1 - t0)
                ready.append(CalibrationSample(t, volume, energy, head, power))
        self._pending = keep
        return ready


def next_version(conn: sqlite3.Connection, plan: AccountingPlan) -> int:
    """One above every coefficient version known: the config's, and those stored."""
    versions = {c.version for c in plan.book.versions}
    checkpoint = latest_checkpoint(conn)
    after = 0
    if checkpoint is not None:
        versions |= {c["version"] for c in checkpoint.data.get("coefficients", [])}
        after = checkpoint.seq
    for record in _coefficient_records(conn, after):
        versions.add(int(record.data["coefficient"]["version"]))
    return max(versions, default=0) + 1


def _coefficient_records(conn: sqlite3.Connection, after: int) -> Iterator[Record]:
    while True:
        batch = records_after(conn, after, 5000)
        if not batch:
            return
        for record in batch:
            if record.kind == KIND_COEFFICIENT:
                yield record
        after = batch[-1].seq


def coefficient_record(coefficient: Coefficient, result: CalibrationResult,
                       sources: Sources, runs: list[dict[str, Any]]) -> NewRecord:
    """The store record of a confirmed coefficient, with the data it came from."""
    return NewRecord.make(
        KIND_COEFFICIENT, WELL_DEVICE, "coefficient", coefficient.value_m3_per_kwh, "m³/kWh",
        wall_time=time.time(), mono_time=time.monotonic(),
        data={"coefficient": asdict(coefficient), "reference_device": sources.reference,
              "energy_device": sources.energy, "runs": runs,
              "result": {"k": result.k_m3_per_kwh, "U": result.expanded_uncertainty,
                         "volume_m3": result.volume_m3, "energy_kwh": result.energy_kwh,
                         "duration_s": result.duration_s, "spread": result.spread,
                         "relative_uncertainties": result.relative_uncertainties,
                         "efficiency": result.efficiency,
                         "efficiency_U": result.efficiency_expanded_uncertainty}})


def describe_stored(state_dir: Path, time_zone: str) -> str | None:
    """check-config's line on the newest coefficient `wellgate calibrate` stored in the store at
    `state_dir` (None: no store, or no coefficient stored)."""
    from gateway.accounting.health_rules import clock
    from gateway.store import DB_FILE, open_reader

    if not (state_dir / DB_FILE).exists():
        return None
    try:
        conn = open_reader(state_dir / DB_FILE)
        try:
            record = latest_record(conn, KIND_COEFFICIENT, WELL_DEVICE, "coefficient")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"cannot read the stored coefficients in {state_dir / DB_FILE}: {exc}"
    if record is None:
        return None
    made = record.data["coefficient"]
    spread = made.get("uncertainty_m3_per_kwh")
    return (f"stored coefficient (wellgate calibrate): v{made['version']} "
            f"{made['value_m3_per_kwh']:.4f}{f' ± {spread:.4f}' if spread else ''} m³/kWh, "
            f"valid from {clock(made['valid_from'], time_zone)} (store seq {record.seq}); "
            "derived volumes use it from then on")


def store_coefficient(state_dir: Path, record: NewRecord) -> int:
    """Append the coefficient record to the signed store; returns its seq."""
    return append_command(state_dir, record)


def new_coefficient(version: int, result: CalibrationResult, valid_from: float,
                    source: str) -> Coefficient:
    """The coefficient a confirmed result becomes (as calibration.revise_book makes it, with the
    version counted over the config's and the stored ones)."""
    return Coefficient(version, result.k_m3_per_kwh, valid_from, "calibration", source,
                       efficiency=result.efficiency,
                       calibration_head_m=result.calibration_head_m,
                       uncertainty_m3_per_kwh=result.expanded_uncertainty)


Progress = Callable[[float, float | None, int], None]  # elapsed s, running k, samples


def one_run(tail: SampleTail, params: CalibrationParams, duration_s: float,
            progress: Progress, wait: Callable[[], None], timeout_s: float) -> list[
                CalibrationSample]:
    """Collect samples for `duration_s` of reading time (at most timeout_s of real time)."""
    samples: list[CalibrationSample] = []
    deadline = time.monotonic() + timeout_s
    while True:
        samples += tail.poll()
        elapsed = samples[-1].time_s - samples[0].time_s if len(samples) > 1 else 0.0
        if elapsed >= duration_s:  # the run ends at its first sample at or after its length
            end = next(i for i, s in enumerate(samples)
                       if s.time_s - samples[0].time_s >= duration_s)
            tail.unread(samples[end + 1:])
            samples = samples[:end + 1]
            progress(duration_s, running_estimate(samples), len(samples))
            return samples
        progress(elapsed, running_estimate(samples), len(samples))
        if time.monotonic() > deadline:
            raise CalibrationRefused([
                f"only {elapsed:.0f} s of readings in {timeout_s:.0f} s: is the gateway "
                "running and polling the reference meter and the energy meter?"])
        wait()


def run_runs(tail: SampleTail, params: CalibrationParams, duration_s: float, runs: int,
             progress: Progress, report: Callable[[int, CalibrationResult | None, str], None],
             wait: Callable[[], None], timeout_s: float, max_attempts: int | None = None,
             head_band_m: float = math.inf,
             ) -> list[tuple[list[dict[str, Any]], CalibrationResult]]:
    """Runs until `runs` are accepted (refused ones are reported, not counted), then combined:
    one result per head band (runs at two water levels are two points of k(H), not one k)."""
    accepted: list[CalibrationResult] = []
    summaries: list[dict[str, Any]] = []
    attempts = 0
    while len(accepted) < runs:
        attempts += 1
        if max_attempts is not None and attempts > max_attempts:
            raise CalibrationRefused([f"{len(accepted)} of {runs} runs accepted in "
                                      f"{attempts - 1} attempts"])
        samples = one_run(tail, params, duration_s, progress, wait, timeout_s)
        try:
            result = evaluate_run(samples, params)
        except CalibrationRefused as refused:
            report(attempts, None, "; ".join(refused.reasons))
            continue
        accepted.append(result)
        summaries.append({"start": samples[0].time_s, "end": samples[-1].time_s,
                          "k": result.k_m3_per_kwh, "U": result.expanded_uncertainty,
                          "volume_m3": result.volume_m3, "energy_kwh": result.energy_kwh})
        report(attempts, result, "")
    return combine_by_head(list(zip(summaries, accepted, strict=True)), params, head_band_m)
