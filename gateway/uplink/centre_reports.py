"""A centre's reports, cut from the store's committed records after the destination's cursor.

A report is one report period of the mapped points' readings, in store (seq) order:

    t0 = wall time of the first mapped reading after the cursor (the report's observation time)
    the report takes every mapped reading with wall time < t0 + period - grace, the newest of
    each point kept, and closes before the first one past that; a reading that starts or stops
    the pump, or an alarm raised or cleared, closes it before that poll (readings within grace
    of each other) and starts a report of that poll that is sent at once with the rest of the
    poll (a report on change); with nothing newer in the store it closes once t0 + period has
    passed (a report on the timer)
    report.last_seq = the seq it closes at: the cursor once the centre has acknowledged it

grace is half the shortest polling period of the mapped devices, so that a report period equal
to the polling period holds exactly one poll of each point: then every stored reading of the
mapped points is in exactly one report. A longer period sends the newest reading of each point
in it (totals are cumulative: nothing is lost but the readings in between).
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gateway.store import open_reader, queries

KIND_READING = "reading"
KIND_ALARM = "alarm"
KIND_CHECKPOINT = "accounting"  # the accounting room's checkpoint (device and point the same)
PAGE = 2000  # records read per query while a report is cut


@dataclass
class Report:
    """One report: element -> value (None: not measured), and the seqs it covers."""

    first_seq: int
    last_seq: int
    observed: float  # wall time of its first reading
    values: dict[str, Any] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)  # element -> seq of the value sent
    pump_running: bool | None = None
    alarms: dict[str, str] = field(default_factory=dict)  # "device/alarm" -> raised | cleared
    cause: str = "period"  # period | timer | change


@dataclass(frozen=True)
class Mapping:
    """Which store points give a report's elements, and the pump threshold."""

    points: dict[str, str]  # element -> "device/point"
    period: float
    grace: float
    pump_running_kw: float = 0.5

    def element_of(self) -> dict[tuple[str, str], str]:
        return {tuple(where.split("/", 1)): element  # type: ignore[misc]
                for element, where in self.points.items()}


class ReportReader:
    """Cuts reports from one store (read-only connection of its own)."""

    def __init__(self, db_path: Path, mapping: Mapping) -> None:
        self.path = Path(db_path)
        self.mapping = mapping
        self._elements = mapping.element_of()
        self._conn: sqlite3.Connection | None = None
        self._unmapped: tuple[int, int] = (-1, -1)  # (cursor, seq): nothing mapped in between

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_reader(self.path)
        return self._conn

    def next_report(self, cursor: int, now: float,
                    pump_before: bool | None = None) -> Report | None:
        """The report after `cursor`, or None while it is not complete and not yet due."""
        conn = self._connection()
        conn.execute("BEGIN")
        try:
            return self._cut(conn, cursor, now, pump_before)
        finally:
            conn.execute("ROLLBACK")

    def _cut(self, conn: sqlite3.Connection, cursor: int, now: float,
             pump_before: bool | None) -> Report | None:
        mapping = self.mapping
        report: Report | None = None
        pump = pump_before
        after = self._unmapped[1] if self._unmapped[0] == cursor else cursor
        changed_at: float | None = None  # wall time of a pump start/stop or an alarm
        poll_wall = float("-inf")  # the newest mapped reading's time: a poll is within grace
        poll_start: tuple[int, Report] | None = None  # the current poll's first seq, the
        while True:                                     # report as it was before that poll
            records = queries.records_after(conn, after, PAGE)
            for record in records:
                element = self._elements.get((record.device, record.point))
                wall = record.wall_time or 0.0
                change = False
                if record.kind == KIND_READING and element is not None:
                    if report is None:
                        report = Report(cursor + 1, record.seq, wall)
                    elif (wall >= report.observed + mapping.period - mapping.grace
                          or (changed_at is not None and wall >= changed_at + mapping.grace)):
                        report.last_seq = record.seq - 1
                        return report
                    if wall > poll_wall + mapping.grace:
                        poll_start = (record.seq, replace(report, values=dict(report.values),
                                                          seqs=dict(report.seqs),
                                                          alarms=dict(report.alarms)))
                    poll_wall = max(poll_wall, wall)
                    report.values[element] = record.value
                    report.seqs[element] = record.seq
                    if element == "pump_power" and isinstance(record.value, int | float):
                        running = record.value > mapping.pump_running_kw
                        change = pump is not None and running != pump
                        pump = report.pump_running = running
                elif record.kind == KIND_ALARM and report is not None:
                    report.alarms[f"{record.device}/{record.point}"] = str(record.value)
                    change = True
                if report is not None:
                    report.last_seq = record.seq
                if change and changed_at is None:
                    if poll_start is not None and poll_start[1].values:
                        # Readings of earlier polls first: they go now, the change next.
                        first_seq, before = poll_start
                        before.last_seq, before.cause = first_seq - 1, "period"
                        return before
                    changed_at = wall
                    report.cause = "change"  # type: ignore[union-attr]
            if records and report is None:
                self._unmapped = (cursor, records[-1].seq)  # not read again for this cursor
            if len(records) < PAGE:
                break
            after = records[-1].seq
        if report is not None and (changed_at is not None
                                   or now >= report.observed + mapping.period):
            report.cause = "change" if changed_at is not None else "timer"
            return report
        return None

    def latest_values(self) -> dict[str, Any]:
        """element -> the newest committed value of each mapped point (a centre's query)."""
        conn = self._connection()
        conn.execute("BEGIN")
        try:
            out: dict[str, Any] = {}
            for (device, point), element in self._elements.items():
                record = queries.latest_record(conn, KIND_READING, device, point)
                out[element] = None if record is None else record.value
            return out
        finally:
            conn.execute("ROLLBACK")

    def pump_guard(self) -> dict[str, Any] | None:
        """The pump guard's state in the accounting room's newest checkpoint (None: none)."""
        conn = self._connection()
        conn.execute("BEGIN")
        try:
            record = queries.latest_record(conn, KIND_CHECKPOINT, KIND_CHECKPOINT, "checkpoint")
        finally:
            conn.execute("ROLLBACK")
        if record is None or not isinstance(record.data, dict):
            return None
        pump = record.data.get("pump")
        return pump if isinstance(pump, dict) else None
