"""The accounting engine: committed store records in, in seq order; derived records out.

It is deterministic: what it writes depends only on the records it is given and their order,
never on when they arrive. Intervals are closed, and alarm rules judged, on a time grid of the
records' own times. After every record that produced output, the output and a checkpoint of the
whole state (with the seq it has consumed up to) go to the store as one group, so a crash at any
moment leaves either both or neither: replaying from the last checkpoint recreates exactly what
was lost and nothing that was kept.

The engine coordinates: the series windows (`series`), the current interval (`intervals`), the
installer's flags and commands (`flags`) and the drift exclusion (`drift`) keep their own parts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from gateway.accounting.alarms import CLOCK, OFFLINE, AlarmBoard
from gateway.accounting.clock import ClockWatch, Placement
from gateway.accounting.coefficient import Coefficient, CoefficientBook
from gateway.accounting.compare import Comparison
from gateway.accounting.counters import Sample, TotaliserTracker
from gateway.accounting.drift import DriftExclusion
from gateway.accounting.flags import FlagBook, meter_replacement
from gateway.accounting.groundwater import Groundwater
from gateway.accounting.health_rules import FAULT, HOLD, NORMAL
from gateway.accounting.intervals import IntervalAccount
from gateway.accounting.ledger import Ledger
from gateway.accounting.periods import METERED, AllocationTracker, local_bucket, local_zone
from gateway.accounting.plan import AccountingPlan, Totaliser
from gateway.accounting.pump import (
    COIL_REQUESTS,
    KIND_RELAY,
    NOT_STOPPED,
    PUMP_COMMANDS,
    REQUESTED,
    RUNNING_AFTER,
    PumpGuard,
)
from gateway.accounting.records import (
    ACCOUNTING_DEVICE,
    CHECKPOINT_POINT,
    CLOCK_POINT,
    GATEWAY_DEVICE,
    KIND_CHECKPOINT,
    KIND_COEFFICIENT,
    KIND_COMMAND,
    KIND_ENERGY,
    KIND_FLAG,
    KIND_HEALTH,
    KIND_PUMP,
    KIND_VOLUME,
    OWN_KINDS,
    STATE_POINT,
    alarm,
    make,
)
from gateway.accounting.series import feed_reading, series_windows
from gateway.accounting.use_checks import UseChecks
from gateway.accounting.water_plan import PLAN_POINT, PlanBook
from gateway.store.records import KIND_ALARM, NewRecord, Record
from gateway.wallclock import UNSYNCHRONISED

log = logging.getLogger(__name__)

STATE_VERSION = 1
# The checkpoint's entries, in the order they have always been written.
STATE_KEYS = ("version", "cursor", "last_time", "replay_from", "bucket", "next_eval", "trackers",
              "acc", "derived", "ledger", "allocation", "alarms", "coefficients", "confirmed",
              "raised_in_interval", "drift_excluded", "open_flags", "pending_relay", "pump",
              "clock", "compared", "local_buckets", "plans", "groundwater")


class AccountingEngine(UseChecks):
    """One well's accounting; `process` each committed record, then `take_group`."""

    def __init__(self, plan: AccountingPlan, state: dict[str, Any] | None = None,
                 lookup: Callable[[int], Record | None] | None = None) -> None:
        self.plan = plan
        state = state or {}
        if state and state.get("version") != STATE_VERSION:
            raise ValueError(f"accounting state version {state.get('version')!r}, expected "
                             f"{STATE_VERSION}")
        self.windows = series_windows(plan)
        trackers = state.get("trackers", {})
        self.totals: dict[str, Totaliser] = {
            name: total for name, total in (("volume", plan.volume), ("energy", plan.energy))
            if total is not None}
        self.trackers = {name: TotaliserTracker(total.params, trackers.get(name))
                         for name, total in self.totals.items()}
        self.ledger = Ledger(plan.time_zone, state.get("ledger"))
        self._zone = local_zone(plan.time_zone)
        self.allocation = (AllocationTracker(plan.allocation, state.get("allocation"))
                           if plan.allocation is not None else None)
        self.stored_coefficients: list[dict[str, Any]] = list(state.get("coefficients", []))
        self.book = CoefficientBook(plan.book.versions)
        for entry in self.stored_coefficients:
            self._add_coefficient(Coefficient(**entry))
        self.board = AlarmBoard(plan, self.windows, state.get("alarms"), self.book)
        self.cursor: int = state.get("cursor", 0)
        self.last_time: float | None = state.get("last_time")
        self.bucket: int | None = state.get("bucket")
        if state and not state.get("local_buckets") and self.last_time is not None:
            # an older checkpoint numbered its interval in UTC: the same one, numbered locally
            self.bucket = local_bucket(self.last_time, plan.interval_s, self._zone)
        self.next_eval: float | None = state.get("next_eval")
        self.interval = IntervalAccount(plan, self.book, self.windows["depth"], self.ledger,
                                        state.get("acc"), state.get("derived"),
                                        state.get("raised_in_interval"))
        self.interval.comparison = Comparison(plan.time_zone, state.get("compared"))
        self.flags = FlagBook(lookup or (lambda seq: None), state.get("open_flags"),
                              state.get("confirmed"))
        self.drift = DriftExclusion(plan, self.windows, state.get("drift_excluded"))
        self.pump = (PumpGuard(plan.pump_control, state.get("pump"))
                     if plan.pump_control.enabled else None)
        self.commands: list[tuple[int, str, dict[str, Any]]] = []  # relay writes to make
        # requests read back but not yet answered by a relay record: handed out again after a
        # restart (the gateway checks the store before it writes, so none is written twice)
        self.pending_relay: dict[str, list[Any]] = dict(state.get("pending_relay", {}))
        self.clock = ClockWatch(state.get("clock"))
        self.plans = PlanBook(plan.plans.years, state.get("plans"))
        self.groundwater = Groundwater(plan.groundwater, self._zone, *plan.pump_running,
                                       state.get("groundwater"))
        self.outputs: list[NewRecord] = []
        self.checkpoint_due = False

    @property
    def clock_trusted(self) -> bool:
        """Whether the wall clock is trusted now (no jump open, not known unsynchronised)."""
        return self.clock.trusted

    # -- feeding ----------------------------------------------------------------------------------
    def process(self, record: Record) -> None:
        """Account one committed record (records must come in seq order, each once). If it
        raises, the cursor stays before it and the engine may be half-applied: restore it from
        the last checkpoint and `skip` the record (the room does)."""
        if record.seq <= self.cursor:
            raise ValueError(f"record {record.seq} is not after the cursor {self.cursor}")
        self._process(record)
        self.cursor = record.seq

    def skip(self, seq: int) -> None:
        """Pass over a record that cannot be accounted: it has no effect at all (the next
        reading of a totaliser carries the whole difference); the checkpoint says so."""
        if seq <= self.cursor:
            raise ValueError(f"record {seq} is not after the cursor {self.cursor}")
        self.cursor = seq
        self.checkpoint_due = True

    def _process(self, record: Record) -> None:
        kind, t = record.kind, record.wall_time
        if kind is None or t is None:  # a thinned record (tombstone)
            return
        if kind in OWN_KINDS or kind in (KIND_ALARM, KIND_RELAY):
            self._feed_own(record, live=True)
            return
        if kind == "reading":  # accounted where the monotonic clock says it was taken
            if self.clock.synced is None and (record.data or {}).get("clock") == UNSYNCHRONISED:
                # read while the kernel said "unsynchronised": its health record may come later
                self.clock.note_sync(0)
            record = self._place(record)
            t = record.wall_time or t
        elif kind == KIND_HEALTH:
            t = self.clock.unchecked(t)
            record = replace(record, wall_time=t)
        if kind in ("reading", KIND_HEALTH):  # the data's clock; a command's own time is not
            self._advance(t)
        if kind == "reading":
            feed_reading(self.plan, self.totals, self.windows, record)
            self._reading(record)
            self._watch_pump(record)
            self._groundwater(record)
        elif kind == KIND_HEALTH:
            self._health(record)
        elif kind == KIND_COEFFICIENT:
            self._coefficient(record)
        elif kind == KIND_COMMAND:
            self._command(record)

    def replay(self, record: Record) -> None:
        """Rebuild the series windows from a record the checkpoint has consumed already."""
        if record.kind is None or record.wall_time is None:
            return
        if record.kind == "reading":
            feed_reading(self.plan, self.totals, self.windows, record)
        elif record.kind in OWN_KINDS:
            self._feed_own(record)

    def _feed_own(self, record: Record, live: bool = False) -> None:
        """Our own interval volumes, read back in store order, are the drift rule's series; a
        committed pump request read back live is handed to the gateway to carry out."""
        data = record.data or {}
        if (live and record.kind == KIND_PUMP and record.point in COIL_REQUESTS
                and record.value == REQUESTED):
            self.commands.append((record.seq, record.point or "", data))
            self.pending_relay[str(record.seq)] = [record.point, data]
            self.checkpoint_due = True
        if live and record.kind == KIND_FLAG and self.flags.note_flag(record):
            self.checkpoint_due = True
        if record.kind == KIND_RELAY and live and data.get("ok") and (  # a failed write: retried
                self.pending_relay.pop(str(data.get("request_seq")), None) is not None):
            self.checkpoint_due = True
        if record.kind == KIND_RELAY and self.pump is not None and record.wall_time is not None:
            self.pump.switched(data.get("action", ""), bool(data.get("ok")), record.wall_time)
        if (record.kind == KIND_VOLUME and isinstance(record.value, int | float)
                and record.wall_time is not None
                and self._coefficient_at(data.get("start") or record.wall_time)):
            if "compared" not in data:  # written before the comparison: its own span
                self.drift.add_volume(data.get("source"), record.wall_time,
                                      float(record.value), record.seq)
            elif data["compared"]:  # both sources over the same stretch, at its end
                self.drift.add_volume(data.get("source"), float(data["compared"][1]),
                                      float(data["compared"][2]), record.seq)

    def _coefficient_at(self, at_time: float) -> bool:
        """Whether 以电折水 has a coefficient then: without one drift means nothing."""
        try:
            self.book.valid_at(at_time)
        except LookupError:
            return False
        return True

    def _reading(self, record: Record) -> None:
        key = (record.device, record.point)
        for name, total in self.totals.items():
            if key != (total.device, total.point):
                continue
            value = record.value if isinstance(record.value, int | float) else None
            sample = Sample(None if value is None else float(value), record.wall_time or 0.0,
                            record.mono_time, None if record.boot is None else str(record.boot),
                            record.seq, record.quality or "good")
            interval = self.trackers[name].update(sample)
            shift = self.clock.start_shift.pop(name, None)  # its start was read before a repair
            if shift is not None and interval.start_wall is not None:
                interval = replace(interval, start_wall=min(interval.start_wall + shift,
                                                            interval.end_wall))
            self.outputs += self.interval.count(name, total, interval)
            if name == ("volume" if self.plan.counting_source == METERED else "energy"):
                self._check_allocation(sample.wall_time, open_interval=True)

    def _watch_pump(self, record: Record) -> None:
        """After a confirmed cut-off, each power or flow reading: is the pump running again?"""
        if self.pump is None or self.plan.pump_control.dry_run:
            return
        power, flow = self.windows["power"], self.windows["flow"]
        if record.seq not in (power.seqs[-1:] + flow.seqs[-1:]):
            return
        t = record.wall_time or 0.0
        verdict, why, out = self.pump.watch(t, power.latest(), flow.latest())
        self.outputs += out
        decision = self.board.condition(RUNNING_AFTER, self.pump.device, verdict, t, why)
        if decision is not None:
            self._alarm_record(decision.alarm, decision.action, t, decision.reason)

    # -- the wall clock against the monotonic clock -----------------------------------------------
    def _place(self, record: Record) -> Record:
        """The reading at the time it was taken; a jump is flagged, a set clock repaired."""
        wall = record.wall_time or 0.0
        placed = self.clock.place(wall, record.mono_time, record.boot, record.seq)
        if placed.correction:
            self._repair(placed.correction, placed.at)
        if placed.started or placed.ended:
            self._clock_flag(record, placed)
        return record if placed.at == wall else replace(record, wall_time=placed.at)

    def _clock_flag(self, record: Record, placed: Placement) -> None:
        jump = self.clock.jump or {}
        text = self.clock.describe(placed, record.seq)
        self.checkpoint_due = True
        self.outputs.append(make(
            KIND_FLAG, GATEWAY_DEVICE, "clock", 0.0, "s", placed.at,
            {"kind": "clock_jump" if placed.started else f"clock_{placed.ended}", "flag": text,
             "skew_s": placed.skew, "synced": self.clock.synced, "reading_seq": record.seq,
             "first_seq": jump.get("first_seq", record.seq), "correction_s": placed.correction,
             "status": "counted: check"}))
        log.warning("clock: %s", text)

    def _repair(self, correction: float, at_time: float) -> None:
        """NTP has set the clock: move what was booked under the unsynchronised reference."""
        before = len(self.outputs)
        self._close_interval(partial=True)  # the interval so far, at the old times
        for record in self.outputs[before:]:
            self._book(record, force=True)
        for start, end, amount, source in self.clock.bookings:
            self.ledger.add(start, end, -amount, source)
            self.ledger.add(None if start is None else start + correction, end + correction,
                            amount, source)
        self.clock.bookings = []
        self.clock.start_shift = {name: correction for name in self.trackers}
        self.bucket = None
        self._check_allocation(at_time)

    def _book(self, record: NewRecord, force: bool = False) -> None:
        if (record.kind in (KIND_VOLUME, KIND_ENERGY) and (force or self.clock.keeps_bookings)
                and isinstance(record.value, int | float) and record.data):
            source = record.data.get("source") or "energy"
            self.clock.book(record.data.get("start"), record.data.get("end") or record.wall_time,
                            float(record.value), source)

    # -- time: intervals and the alarm grid -------------------------------------------------------
    def _advance(self, t: float) -> None:
        index = local_bucket(t, self.plan.interval_s, self._zone)
        if self.bucket is None:
            self.bucket = index
        elif index > self.bucket:
            self._close_interval(partial=False)
            self.bucket = index
        step = self.plan.evaluate_every_s
        if self.next_eval is None:
            self.next_eval = math.floor(t / step) * step + step
        elif t >= self.next_eval:
            grid = math.floor(t / step) * step
            self._evaluate(grid)
            self.next_eval = grid + step
        self.last_time = t if self.last_time is None else max(self.last_time, t)

    def _evaluate(self, now: float) -> None:
        for window in self.windows.values():
            window.prune(now)
        self.drift.forget_before(now)
        for decision in self.board.evaluate(now):
            self._alarm_record(decision.alarm, decision.action, now, decision.reason)
        if self.pump is not None:
            self.outputs += self.pump.expire(now)
        if self.pump is not None and not self.plan.pump_control.dry_run:
            verdict, why, confirmed = self.pump.confirm(now, self.windows["power"].pairs)
            if confirmed is not None:
                self.outputs.append(confirmed)
            decision = self.board.condition(NOT_STOPPED, self.pump.device, verdict, now, why)
            if decision is not None:
                self._alarm_record(decision.alarm, decision.action, now, decision.reason)

    def _alarm_record(self, key: str, action: str, at_time: float, reason: str,
                      **data: Any) -> None:
        name, device = key.split("@", 1)
        extra = data if action == "raise" else {"raised_at": self._last_raised(name, device),
                                                **data}
        if action == "raise":
            self.interval.note_raised(key)
        self.drift.alarm(key, name, action, at_time)
        self.outputs.append(alarm(device, name, action, at_time, reason, **extra))
        log.log(logging.WARNING if action == "raise" else logging.INFO, "alarm %s %s on %s: %s",
                name, "raised" if action == "raise" else "cleared", device, reason)

    def _last_raised(self, name: str, device: str) -> float | None:
        for entry in reversed(self.board.recent):
            if entry["alarm"] == name and entry["device"] == device:
                return entry["raised"]
        return None

    # -- intervals --------------------------------------------------------------------------------
    def _close_interval(self, partial: bool) -> None:
        """Write the interval's records, add them to the totals, check the allocation."""
        self.checkpoint_due = True
        active = [key for key, latch in self.board.latches.items() if latch.active]
        records, end = self.interval.close(partial, active)
        self.outputs += records
        for record in records:
            self._book(record)
        if end is not None:
            self._check_allocation(end)

    def close_partial(self) -> None:
        """Write what the current interval holds so far (on a stop), and a checkpoint."""
        self._close_interval(partial=True)

    # -- health, coefficients, installer commands -------------------------------------------------
    def _health(self, record: Record) -> None:
        t, value = record.wall_time or 0.0, record.value
        reason = (record.data or {}).get("reason", "")
        if record.point == STATE_POINT and record.device:
            state = FAULT if value == "offline" else NORMAL if value == "online" else HOLD
            decision = self.board.condition(OFFLINE, record.device, state, t, reason or value)
        elif record.point == CLOCK_POINT:
            self.clock.note_sync(value)
            state = FAULT if value == 0 else NORMAL if value == 1 else HOLD
            decision = self.board.condition(CLOCK, GATEWAY_DEVICE, state, t, reason or "")
        else:
            return
        if decision is not None:
            self._alarm_record(decision.alarm, decision.action, t, decision.reason)

    def _add_coefficient(self, coefficient: Coefficient) -> bool:
        if coefficient.version in {c.version for c in self.book.versions}:
            log.error("coefficient version %d is already known; the stored one is ignored",
                      coefficient.version)
            return False
        self.book.add(coefficient)
        return True

    def _coefficient(self, record: Record) -> None:
        try:
            coefficient = Coefficient(**(record.data or {}).get("coefficient", {}))
        except (TypeError, ValueError) as error:
            log.error("coefficient record %d is unusable: %s", record.seq, error)
            return
        if self._add_coefficient(coefficient):
            self.stored_coefficients.append(asdict(coefficient))
            self.checkpoint_due = True

    def _command(self, record: Record) -> None:
        data = record.data or {}
        if record.point == "confirm_flag":
            known, counted = self.flags.confirm(record.seq, int(data.get("flag_seq", -1)),
                                                data.get("decision"))
            if known:
                self.checkpoint_due = True
            if counted is not None:  # booked where the meter counted it
                records, end = self.interval.count_confirmed(counted)
                self.outputs += records
                if end is not None:
                    self._check_allocation(end)
        elif record.point == "replace_meter":
            replaced = meter_replacement(record, self.totals, self.trackers)
            if replaced is not None:
                name, interval = replaced
                self.outputs += self.interval.count(name, self.totals[name], interval)
        elif record.point == PLAN_POINT:
            self._plan_command(record)
        elif record.point in PUMP_COMMANDS and self.pump is not None:
            self.outputs += self.pump.command(record.point, data, record.wall_time or 0.0)
            self.checkpoint_due = True

    # -- output -----------------------------------------------------------------------------------
    def take_group(self) -> list[NewRecord]:
        """The records made since the last call, with a checkpoint after them ([] if none)."""
        if not self.outputs and not self.checkpoint_due:
            return []
        group = [*self.outputs, make(KIND_CHECKPOINT, ACCOUNTING_DEVICE, CHECKPOINT_POINT,
                                     self.cursor, "", self.last_time or 0.0, self.to_state())]
        self.outputs, self.checkpoint_due = [], False
        return group

    def replay_from(self) -> int:
        """The oldest seq any series window still holds (cursor + 1 when they are empty)."""
        firsts = [window.seqs[0] for window in self.windows.values() if window.seqs]
        return min(firsts, default=self.cursor + 1)

    def to_state(self) -> dict[str, Any]:
        """The whole state as the checkpoint keeps it (stored checkpoints must keep loading)."""
        state = {
            "version": STATE_VERSION, "cursor": self.cursor, "last_time": self.last_time,
            "replay_from": self.replay_from(), "bucket": self.bucket, "next_eval": self.next_eval,
            "trackers": {name: tracker.to_state() for name, tracker in self.trackers.items()},
            "ledger": self.ledger.to_state(),
            "allocation": self.allocation.to_state() if self.allocation else None,
            "alarms": self.board.to_state(),
            "coefficients": self.stored_coefficients,
            "drift_excluded": self.drift.to_state(),
            "pending_relay": self.pending_relay,
            "pump": self.pump.to_state() if self.pump is not None else None,
            "clock": self.clock.to_state(),
            "compared": self.interval.comparison.to_state(), "local_buckets": True,
            "plans": self.plans.to_state(), "groundwater": self.groundwater.to_state(),
            **self.interval.to_state(), **self.flags.to_state(),
        }
        return {key: state[key] for key in STATE_KEYS}
