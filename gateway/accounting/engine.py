"""The accounting engine: committed store records in, in seq order; derived records out.

It is deterministic: what it writes depends only on the records it is given and their order,
never on when they arrive. Intervals are closed, and alarm rules judged, on a time grid of the
records' own times. After every record that produced output, the output and a checkpoint of the
whole state (with the seq it has consumed up to) go to the store as one group, so a crash at any
moment leaves either both or neither: replaying from the last checkpoint recreates exactly what
was lost and nothing that was kept.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from gateway.accounting.alarms import CLOCK, OFFLINE, AlarmBoard, Window
from gateway.accounting.coefficient import Coefficient, CoefficientBook, derived_volume
from gateway.accounting.counters import (
    DUPLICATE,
    FIRST,
    INVALID,
    OUT_OF_ORDER,
    Interval,
    Sample,
    TotaliserTracker,
)
from gateway.accounting.health_rules import FAULT, HOLD, NORMAL
from gateway.accounting.ledger import Ledger
from gateway.accounting.periods import DERIVED, METERED, AllocationTracker
from gateway.accounting.plan import AccountingPlan, Totaliser, to_base
from gateway.accounting.pump import CUT_OFF, KIND_RELAY, NOT_STOPPED, REQUESTED, RESTORE, PumpGuard
from gateway.accounting.records import (
    ACCOUNTING_DEVICE,
    CHECKPOINT_POINT,
    CLOCK_POINT,
    GATEWAY_DEVICE,
    KIND_ALLOCATION,
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
    WELL_DEVICE,
    alarm,
    make,
)
from gateway.readings import QUALITY_INVALID
from gateway.store.records import KIND_ALARM, NewRecord, Record

log = logging.getLogger(__name__)

STATE_VERSION = 1
IGNORED = (DUPLICATE, OUT_OF_ORDER, INVALID)
# A meter known to be faulty during an interval: its volumes are kept out of the drift
# comparison (drift is for a coefficient that no longer fits, not for a broken meter).
METER_FAULTS = frozenset({"power_without_flow", "flow_without_power", "totaliser_backwards",
                          "totaliser_stuck", "meter_status", OFFLINE})
PUMP_BLOCKING = METER_FAULTS | {"drift"}  # no cut-off while one of these is raised
MAX_NOTES = 3
MAX_OPEN_FLAGS = 100  # held amounts awaiting a person, kept in the checkpoint (newest)


@dataclass
class Amount:
    """What one totaliser counted in the current interval."""

    amount: float = 0.0  # counted, base unit
    held: float = 0.0  # flagged and not counted
    start: float | None = None
    end: float | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    readings: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    flagged: list[int] = field(default_factory=list)  # seqs of the readings flagged
    confirmed: list[int] = field(default_factory=list)  # seqs of flags a person let count

    def add(self, start: float | None, end: float, delta: float, held: float,
            seq: int | None, kind: str) -> None:
        self.amount += delta
        self.held += held
        if start is not None and (self.start is None or start < self.start):
            self.start = start
        self.end = end if self.end is None else max(self.end, end)
        if seq is not None:
            self.first_seq = seq if self.first_seq is None else self.first_seq
            self.last_seq = seq
        self.readings += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    @property
    def empty(self) -> bool:
        return self.amount == 0 and self.held == 0 and not self.flagged and not self.confirmed


@dataclass
class DerivedAmount:
    """以电折水 of the current interval by one coefficient version, head-corrected or not."""

    version: int
    corrected: bool
    energy: float = 0.0
    volume: float = 0.0
    energy_per_head: float = 0.0  # Σ E/H: the effective head is ΣE / Σ(E/H)
    start: float | None = None
    end: float | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    notes: list[str] = field(default_factory=list)


class AccountingEngine:
    """One well's accounting; `process` each committed record, then `take_group`."""

    def __init__(self, plan: AccountingPlan, state: dict[str, Any] | None = None,
                 lookup: Callable[[int], Record | None] | None = None) -> None:
        self.plan = plan
        self.lookup = lookup or (lambda seq: None)
        state = state or {}
        if state and state.get("version") != STATE_VERSION:
            raise ValueError(f"accounting state version {state.get('version')!r}, expected "
                             f"{STATE_VERSION}")
        self.windows = {name: Window(span, accumulate=name in (METERED, DERIVED))
                        for name, span in plan.window_s().items()}
        trackers = state.get("trackers", {})
        self.totals: dict[str, Totaliser] = {
            name: total for name, total in (("volume", plan.volume), ("energy", plan.energy))
            if total is not None}
        self.trackers = {name: TotaliserTracker(total.params, trackers.get(name))
                         for name, total in self.totals.items()}
        self.ledger = Ledger(plan.time_zone, state.get("ledger"))
        self.allocation = (AllocationTracker(plan.allocation, state.get("allocation"))
                           if plan.allocation is not None else None)
        self.board = AlarmBoard(plan, self.windows, state.get("alarms"))
        self.stored_coefficients: list[dict[str, Any]] = list(state.get("coefficients", []))
        self.book = CoefficientBook(plan.book.versions)
        for entry in self.stored_coefficients:
            self._add_coefficient(Coefficient(**entry))
        self.cursor: int = state.get("cursor", 0)
        self.last_time: float | None = state.get("last_time")
        self.bucket: int | None = state.get("bucket")
        self.next_eval: float | None = state.get("next_eval")
        self.acc = {name: Amount(**state.get("acc", {}).get(name, {}))
                    for name in ("volume", "energy")}
        self.derived = [DerivedAmount(**entry) for entry in state.get("derived", [])]
        self.confirmed: set[int] = set(state.get("confirmed", []))
        self.raised_in_interval: set[str] = set(state.get("raised_in_interval", []))
        self.open_flags: dict[str, dict[str, Any]] = dict(state.get("open_flags", {}))
        # time ranges [from, to] (to None: still faulty) kept out of the drift comparison
        self.drift_excluded: dict[str, list[float | None]] = dict(
            state.get("drift_excluded", {}))
        self.pump = (PumpGuard(plan.pump_control, state.get("pump"))
                     if plan.pump_control.enabled else None)
        self.commands: list[tuple[int, str, dict[str, Any]]] = []  # relay writes to make
        # requests read back but not yet answered by a relay record: handed out again after a
        # restart (the gateway checks the store before it writes, so none is written twice)
        self.pending_relay: dict[str, list[Any]] = dict(state.get("pending_relay", {}))
        self.outputs: list[NewRecord] = []
        self.checkpoint_due = False

    # -- feeding ----------------------------------------------------------------------------------
    def process(self, record: Record) -> None:
        """Account one committed record (records must come in seq order, each once)."""
        if record.seq <= self.cursor:
            raise ValueError(f"record {record.seq} is not after the cursor {self.cursor}")
        try:
            self._process(record)
        finally:
            self.cursor = record.seq

    def _process(self, record: Record) -> None:
        kind, t = record.kind, record.wall_time
        if kind is None or t is None:  # a thinned record (tombstone)
            return
        if kind in OWN_KINDS or kind in (KIND_ALARM, KIND_RELAY):
            self._feed_own(record, live=True)
            return
        if kind in ("reading", KIND_HEALTH):  # the data's clock; a command's own time is not
            self._advance(t)
        if kind == "reading":
            self._feed_series(record)
            self._reading(record)
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
            self._feed_series(record)
        elif record.kind in OWN_KINDS:
            self._feed_own(record)

    def _feed_own(self, record: Record, live: bool = False) -> None:
        """Our own interval volumes, read back in store order, are the drift rule's series; a
        committed pump request read back live is handed to the gateway to carry out."""
        data = record.data or {}
        if (live and record.kind == KIND_PUMP and record.point in (CUT_OFF, RESTORE)
                and record.value == REQUESTED):
            self.commands.append((record.seq, record.point or "", data))
            self.pending_relay[str(record.seq)] = [record.point, data]
            self.checkpoint_due = True
        if live and record.kind == KIND_FLAG and isinstance(record.value, int | float) and (
                record.value > 0 and str(record.seq) not in self.open_flags):
            self.open_flags[str(record.seq)] = {
                "device": record.device, "point": record.point, "held": record.value,
                "unit": record.unit, "kind": data.get("kind"), "at": record.wall_time,
                "flag": data.get("flag")}
            for seq in sorted(self.open_flags, key=int)[:-MAX_OPEN_FLAGS]:
                del self.open_flags[seq]
            self.checkpoint_due = True
        if record.kind == KIND_RELAY and live and (
                self.pending_relay.pop(str(data.get("request_seq")), None) is not None):
            self.checkpoint_due = True
        if record.kind == KIND_RELAY and self.pump is not None and record.wall_time is not None:
            self.pump.switched(data.get("action", ""), bool(data.get("ok")), record.wall_time)
        if record.kind == KIND_VOLUME and isinstance(record.value, int | float):
            source = data.get("source")
            if (source in (METERED, DERIVED) and record.wall_time is not None
                    and not self._excluded(record.wall_time)):
                self.windows[source].add(record.wall_time, float(record.value), record.seq)

    def _feed_series(self, record: Record) -> None:
        plan, key, value, t = self.plan, (record.device, record.point), record.value, \
            record.wall_time
        assert t is not None
        if record.quality == QUALITY_INVALID or value is None:
            return
        number = float(value) if isinstance(value, int | float) else None
        unit = record.unit or ""
        for name, total in self.totals.items():
            if key == (total.device, total.point) and number is not None:
                self.windows[name].add(t, to_base(number, unit), record.seq)
        if number is not None and key == (plan.energy_device, "active_power"):
            self.windows["power"].add(t, to_base(number, unit), record.seq)
        if number is not None and key == (plan.flow_device, "flow_rate"):
            self.windows["flow"].add(t, to_base(number, unit), record.seq)
        if number is not None and key == (plan.level_device, "level") and plan.head:
            depth = plan.head.sensor_depth_m - to_base(number, unit)
            if depth >= 0:
                self.windows["depth"].add(t, depth, record.seq)
        if key == (plan.flow_device, "pipe_status"):
            self.windows["pipe"].add(t, value, record.seq)
        if key == (plan.flow_device, "error_code") and isinstance(value, int):
            self.windows["error"].add(t, value, record.seq)

    # -- time: intervals and the alarm grid -------------------------------------------------------
    def _advance(self, t: float) -> None:
        index = int(t // self.plan.interval_s)
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
        oldest = now - self.windows[METERED].span_s
        for tag in [t for t, (_, end) in self.drift_excluded.items()
                    if end is not None and end < oldest]:
            del self.drift_excluded[tag]
        for decision in self.board.evaluate(now):
            self._alarm_record(decision.alarm, decision.action, now, decision.reason)
        if self.pump is not None and not self.plan.pump_control.dry_run:
            verdict, why, confirmed = self.pump.confirm(now, self.windows["power"].pairs)
            if confirmed is not None:
                self.outputs.append(confirmed)
            decision = self.board.condition(NOT_STOPPED, self.pump.device, verdict, now, why)
            if decision is not None:
                self._alarm_record(decision.alarm, decision.action, now, decision.reason)

    def _alarm_record(self, key: str, action: str, at_time: float, reason: str) -> None:
        name, device = key.split("@", 1)
        extra = {} if action == "raise" else {"raised_at": self._last_raised(name, device)}
        if action == "raise":
            self.raised_in_interval.add(key)
        if name in METER_FAULTS:
            self._exclude_from_drift(key, name, action, at_time)
        self.outputs.append(alarm(device, name, action, at_time, reason, **extra))
        log.log(logging.WARNING if action == "raise" else logging.INFO, "alarm %s %s on %s: %s",
                name, "raised" if action == "raise" else "cleared", device, reason)

    def _exclude_from_drift(self, key: str, name: str, action: str, at_time: float) -> None:
        """A meter fault: the volumes since it may have begun, and until it ends, are no
        evidence of a drifting coefficient; keep them out of the drift comparison."""
        if action == "raise":
            start = at_time - self._fault_lookback(name)
            self.drift_excluded[f"{key}#{at_time:.3f}"] = [start, None]
            for source in (METERED, DERIVED):
                window = self.windows[source]
                cut = next((i for i, (t, _) in enumerate(window.pairs) if t >= start),
                           len(window.pairs))
                del window.pairs[cut:], window.seqs[cut:]
            return
        for tag, span in self.drift_excluded.items():
            if tag.startswith(key + "#") and span[1] is None:
                span[1] = at_time + self.plan.interval_s  # the interval it ends in is mixed

    def _fault_lookback(self, name: str) -> float:
        """How long before its raise a fault of this alarm may have begun."""
        plan = self.plan
        th: Any = {"power_without_flow": plan.power_flow, "flow_without_power": plan.power_flow,
                   "totaliser_stuck": plan.stuck, "meter_status": plan.status,
                   "totaliser_backwards": plan.backwards}.get(name)
        window = (th.window_s + th.raise_after_s) if th is not None else (
            plan.offline[0] if plan.offline else 0.0)
        return window + plan.evaluate_every_s + plan.interval_s

    def _excluded(self, at_time: float) -> bool:
        return any(start <= at_time and (end is None or at_time <= end)
                   for start, end in self.drift_excluded.values())

    def _last_raised(self, name: str, device: str) -> float | None:
        for entry in reversed(self.board.recent):
            if entry["alarm"] == name and entry["device"] == device:
                return entry["raised"]
        return None

    # -- readings ---------------------------------------------------------------------------------
    def _reading(self, record: Record) -> None:
        key = (record.device, record.point)
        for name, total in self.totals.items():
            if key != (total.device, total.point):
                continue
            value = record.value if isinstance(record.value, int | float) else None
            sample = Sample(None if value is None else float(value), record.wall_time or 0.0,
                            record.mono_time, None if record.boot is None else str(record.boot),
                            record.seq, record.quality or "good")
            self._interval(name, total, self.trackers[name].update(sample))

    def _interval(self, name: str, total: Totaliser, interval: Interval) -> None:
        acc = self.acc[name]
        if interval.kind == FIRST:
            return
        if interval.kind in IGNORED:
            acc.kinds[interval.kind] = acc.kinds.get(interval.kind, 0) + 1
            return
        delta = to_base(interval.delta, total.unit)
        held = to_base(interval.held, total.unit)
        acc.add(interval.start_wall, interval.end_wall, delta, held, interval.seq, interval.kind)
        if interval.flag:
            if interval.seq is not None:
                acc.flagged.append(interval.seq)
            self.outputs.append(make(
                KIND_FLAG, total.device, total.point, held, _base_unit(name), interval.end_wall,
                {"kind": interval.kind, "flag": interval.flag, "held": held, "counted": delta,
                 "reading_seq": interval.seq, "start": interval.start_wall,
                 "end": interval.end_wall, "source": METERED if name == "volume" else "energy",
                 "status": "held: confirm or reject" if held > 0 else "counted: check"}))
        if name == "energy" and delta > 0:
            self._derive(delta, interval.start_wall, interval.end_wall, interval.seq)

    def _head(self, at_time: float) -> float | None:
        head = self.plan.head
        latest = self.windows["depth"].latest()
        if head is None or latest is None or at_time - latest[0] > self.plan.head_max_age_s:
            return None
        return latest[1] + head.outlet_height_m + head.friction_head_m

    def _derive(self, energy: float, start: float | None, end: float, seq: int | None,
                head_known: bool = True) -> None:
        try:
            coefficient = self.book.valid_at(end)
        except LookupError as error:
            self.acc["energy"].kinds["no_coefficient"] = (
                self.acc["energy"].kinds.get("no_coefficient", 0) + 1)
            log.debug("no 以电折水: %s", error)
            return
        head = self._head(end) if head_known else None
        max_ratio = self.plan.head.max_head_ratio if self.plan.head else 1.5
        volume = derived_volume(energy, coefficient, head, self.plan.head_model, max_ratio)
        corrected = volume.note is None and self.plan.head_model != "fixed"
        part = next((d for d in self.derived if d.version == coefficient.version
                     and d.corrected == corrected), None)
        if part is None:
            part = DerivedAmount(coefficient.version, corrected)
            self.derived.append(part)
        part.energy += energy
        part.volume += volume.volume_m3
        if corrected and head:
            part.energy_per_head += energy / head
        if start is not None and (part.start is None or start < part.start):
            part.start = start
        part.end = end if part.end is None else max(part.end, end)
        if seq is not None:
            part.first_seq = seq if part.first_seq is None else part.first_seq
            part.last_seq = seq
        if volume.note and volume.note not in part.notes and len(part.notes) < MAX_NOTES:
            part.notes.append(volume.note)

    # -- intervals --------------------------------------------------------------------------------
    def _close_interval(self, partial: bool) -> None:
        """Write the interval's records, add them to the totals, check the allocation."""
        plan, ledger = self.plan, self.ledger
        self.checkpoint_due = True
        faults = sorted(self.raised_in_interval | {
            key for key, latch in self.board.latches.items() if latch.active})
        common = {"interval_s": plan.interval_s, "partial": partial,
                  "meter_alarms": [k for k in faults if k.split("@")[0] in METER_FAULTS]}
        self.raised_in_interval = set()
        volume, energy = self.acc["volume"], self.acc["energy"]
        if plan.volume is not None and not volume.empty:
            self.outputs.append(make(
                KIND_VOLUME, plan.volume.device, METERED, volume.amount, "m³",
                volume.end or 0.0, {"source": METERED, **_amount_data(volume), **common}))
            ledger.add(volume.start, volume.end or 0.0, volume.amount, METERED)
        if plan.energy is not None and not energy.empty:
            self.outputs.append(make(
                KIND_ENERGY, plan.energy.device, plan.energy.point, energy.amount, "kWh",
                energy.end or 0.0, {**_amount_data(energy), **common}))
            ledger.add(energy.start, energy.end or 0.0, energy.amount, "energy")
        for part in self.derived:
            if part.energy <= 0 or plan.energy is None:
                continue
            head = part.energy / part.energy_per_head if part.corrected else None
            self.outputs.append(make(
                KIND_VOLUME, plan.energy.device, DERIVED, part.volume, "m³", part.end or 0.0,
                {"source": DERIVED, "energy_kwh": part.energy,
                 "coefficient_version": part.version, "k_m3_per_kwh": part.volume / part.energy,
                 "head_model": plan.head_model, "head_m": head, "note": "; ".join(part.notes)
                 or None, "start": part.start, "end": part.end,
                 "seqs": [part.first_seq, part.last_seq], **common}))
            ledger.add(part.start, part.end or 0.0, part.volume, DERIVED)
        end = max([a.end for a in (volume, energy) if a.end is not None]
                  + [p.end for p in self.derived if p.end is not None], default=None)
        self.acc = {"volume": Amount(), "energy": Amount()}
        self.derived = []
        if end is not None:
            self._check_allocation(end)

    def _check_allocation(self, at_time: float) -> None:
        if self.allocation is None:
            return
        year = self.ledger.local_date(at_time).year
        used = self.ledger.year(year, self.plan.counting_source)
        for crossing in self.allocation.update(year, used, at_time):
            self.outputs.append(make(
                KIND_ALLOCATION, WELL_DEVICE, "threshold", crossing.threshold_percent, "%",
                at_time, {"year": crossing.year, "used_m3": crossing.used_m3,
                          "allocation_m3": crossing.allocation_m3,
                          "source": self.plan.counting_source,
                          "threshold_percent": crossing.threshold_percent}))
            log.warning("allocation: %s%% of %s m³ reached in %s (%.1f m³, %s)",
                        crossing.threshold_percent, crossing.allocation_m3, crossing.year,
                        crossing.used_m3, self.plan.counting_source)
        if self.pump is not None:
            blocking = sorted(key for key, latch in self.board.latches.items()
                              if latch.active and latch.alarm in PUMP_BLOCKING)
            self.outputs += self.pump.check(year, used, self.allocation.params.annual_allocation_m3,
                                            at_time, blocking)

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
            self._confirm(record, int(data.get("flag_seq", -1)), data.get("decision"))
        elif record.point == "replace_meter":
            self._replace(record, data)
        elif record.point in ("pump_override", "pump_restore") and self.pump is not None:
            self.outputs += self.pump.command(record.point, data, record.wall_time or 0.0)
            self.checkpoint_due = True

    def _confirm(self, record: Record, flag_seq: int, decision: Any) -> None:
        flag = self.lookup(flag_seq)
        if flag is None or flag.kind != KIND_FLAG or flag_seq in self.confirmed:
            log.error("confirm: seq %d is not an open flag; command %d ignored", flag_seq,
                      record.seq)
            return
        self.confirmed.add(flag_seq)
        self.open_flags.pop(str(flag_seq), None)
        self.checkpoint_due = True
        held = float(flag.value or 0.0)
        if decision != "count" or held <= 0:
            return
        data = flag.data or {}  # the amount belongs to when it was counted by the meter
        end = float(data.get("end") or flag.wall_time or 0.0)
        start = data.get("start")
        name = "volume" if data.get("source") == METERED else "energy"
        acc = self.acc[name]
        acc.add(start, end, held, 0.0, None, "confirmed")
        acc.confirmed.append(flag_seq)
        if name == "energy":
            self._derive(held, start, end, None, head_known=False)

    def _replace(self, record: Record, data: dict[str, Any]) -> None:
        device, point = data.get("device"), data.get("point")
        name = next((n for n, total in self.totals.items()
                     if (total.device, total.point) == (device, point)), None)
        if name is None:
            log.error("replace_meter: %s/%s is not a totaliser accounting counts", device, point)
            return
        try:
            interval = self.trackers[name].replace(
                float(data["new_start"]), float(data.get("at_time") or record.wall_time or 0.0),
                None if data.get("old_final") is None else float(data["old_final"]))
        except (KeyError, TypeError, ValueError) as error:
            log.error("replace_meter command %d: %s", record.seq, error)
            return
        self._interval(name, self.totals[name], interval)

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
        return {
            "version": STATE_VERSION, "cursor": self.cursor, "last_time": self.last_time,
            "replay_from": self.replay_from(), "bucket": self.bucket, "next_eval": self.next_eval,
            "trackers": {name: tracker.to_state() for name, tracker in self.trackers.items()},
            "acc": {name: asdict(acc) for name, acc in self.acc.items()},
            "derived": [asdict(part) for part in self.derived],
            "ledger": self.ledger.to_state(),
            "allocation": self.allocation.to_state() if self.allocation else None,
            "alarms": self.board.to_state(),
            "coefficients": self.stored_coefficients,
            "confirmed": sorted(self.confirmed),
            "raised_in_interval": sorted(self.raised_in_interval),
            "drift_excluded": self.drift_excluded,
            "open_flags": self.open_flags,
            "pending_relay": self.pending_relay,
            "pump": self.pump.to_state() if self.pump is not None else None,
        }


def _base_unit(name: str) -> str:
    return "m³" if name == "volume" else "kWh"


def _amount_data(acc: Amount) -> dict[str, Any]:
    return {"start": acc.start, "end": acc.end, "seqs": [acc.first_seq, acc.last_seq],
            "readings": acc.readings, "kinds": acc.kinds, "held": acc.held,
            "flagged_readings": acc.flagged[:50], "confirmed_flags": acc.confirmed}
