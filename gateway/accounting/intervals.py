"""The current accounting interval: what each totaliser counted, 以电折水 derived, its records."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from gateway.accounting.alarms import Window
from gateway.accounting.coefficient import FIXED, CoefficientBook
from gateway.accounting.compare import Comparison
from gateway.accounting.counters import (
    CLOSED,
    DUPLICATE,
    FIRST,
    INVALID,
    OPEN,
    OUT_OF_ORDER,
    SETTLED,
    Interval,
)
from gateway.accounting.drift import METER_FAULTS
from gateway.accounting.khead import FIT, KMODEL_VERSION, STANDARD, choose_k
from gateway.accounting.ledger import Ledger
from gateway.accounting.periods import DERIVED, METERED
from gateway.accounting.plan import AccountingPlan, Totaliser, to_base
from gateway.accounting.records import KIND_ENERGY, KIND_FLAG, KIND_VOLUME, make
from gateway.store.records import NewRecord

log = logging.getLogger(__name__)

IGNORED = (DUPLICATE, OUT_OF_ORDER, INVALID)
MAX_NOTES = 3
_STATUS = {OPEN: "held, still changing: confirm once the readings settle",
           SETTLED: "held: confirm or reject", CLOSED: "closed itself (a glitch): nothing held"}
TOTALISERS = ("volume", "energy")


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
        self.held = max(self.held + held, 0.0)  # `held` < 0: an episode's held amount fell
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
    model: str = ""  # the k model that made it (khead.choose_k; "" in older checkpoints)
    versions: list[int] = field(default_factory=list)  # the calibrations a fit went through
    energy_head: float = 0.0  # Σ E·H: a fit's effective head is Σ(E·H) / ΣE (k linear in H)
    energy_u: float = 0.0  # Σ E·U(k): the volume's expanded uncertainty (None if any unknown)
    u_known: bool = True
    beyond_m: float = 0.0  # the farthest head beyond the calibrated heads
    start: float | None = None
    end: float | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HeldAmount:
    """A flagged amount a person let count: it belongs to the time the meter counted it."""

    name: str  # "volume" or "energy"
    start: float | None
    end: float
    held: float
    flag_seq: int


class IntervalAccount:
    """The interval being counted: `count` meter intervals into it, `close` it into records."""

    def __init__(self, plan: AccountingPlan, book: CoefficientBook, depth: Window,
                 ledger: Ledger, acc: dict[str, dict[str, Any]] | None = None,
                 derived: list[dict[str, Any]] | None = None,
                 raised: list[str] | None = None) -> None:
        self.plan, self.book, self.depth, self.ledger = plan, book, depth, ledger
        acc = acc or {}
        self.acc = {name: Amount(**acc.get(name, {})) for name in TOTALISERS}
        self.derived = [DerivedAmount(**entry) for entry in derived or []]
        self.raised: set[str] = set(raised or [])  # alarms raised during the interval
        self.comparison: Comparison | None = None  # metered vs derived over the same time

    def note_raised(self, key: str) -> None:
        """An alarm was raised in this interval (its records name it even if it cleared)."""
        self.raised.add(key)

    def count(self, name: str, total: Totaliser, interval: Interval) -> list[NewRecord]:
        """Add what one reading of a totaliser means; returns the flag record it made, if any."""
        acc = self.acc[name]
        if interval.kind == FIRST:
            return []
        if interval.kind in IGNORED:
            acc.kinds[interval.kind] = acc.kinds.get(interval.kind, 0) + 1
            if interval.kind == INVALID or not interval.flag:
                return []
            if interval.seq is not None:  # a person sees readings that were dropped
                acc.flagged.append(interval.seq)
            return [self._flag(name, total, interval, 0.0, 0.0)]
        delta = to_base(interval.delta, total.unit)
        held = to_base(interval.held, total.unit)
        # an episode's held amount is updated, not added: the interval holds the change
        change = held - to_base(interval.held_before, total.unit)
        acc.add(interval.start_wall, interval.end_wall, delta, change, interval.seq,
                interval.kind)
        flags: list[NewRecord] = []
        if interval.flag:
            if interval.seq is not None:
                acc.flagged.append(interval.seq)
            flags.append(self._flag(name, total, interval, held, delta))
        if name == "energy" and delta > 0:
            self._derive(delta, interval.start_wall, interval.end_wall, interval.seq)
        return flags

    @staticmethod
    def _flag(name: str, total: Totaliser, interval: Interval, held: float,
              delta: float) -> NewRecord:
        """The flag record of one reading: what a person must confirm, reject or check."""
        if interval.kind in IGNORED:
            status = "ignored: check"
        elif interval.status in _STATUS and (held > 0 or interval.status != SETTLED):
            status = _STATUS[interval.status]
        else:
            status = "held: confirm or reject" if held > 0 else "counted: check"
        return make(
            KIND_FLAG, total.device, total.point, held, _base_unit(name), interval.end_wall,
            {"kind": interval.episode_kind or interval.kind, "flag": interval.flag, "held": held,
             "counted": delta,
             "reading_seq": interval.seq, "start": interval.start_wall,
             "end": interval.end_wall, "source": METERED if name == "volume" else "energy",
             "status": status,
             "episode": interval.episode, "episode_status": interval.status})

    def count_confirmed(self, amount: HeldAmount) -> tuple[list[NewRecord], float | None]:
        """A held amount a person confirmed, as records of its own over the time the meter
        counted it (not merged into the current interval; its head is unknown by now: not
        corrected); returns them, as `close` does."""
        own = IntervalAccount(self.plan, self.book, self.depth, self.ledger)
        acc = own.acc[amount.name]
        acc.add(amount.start, amount.end, amount.held, 0.0, None, "confirmed")
        acc.confirmed.append(amount.flag_seq)
        if amount.name == "energy":
            own._derive(amount.held, amount.start, amount.end, None, head_known=False)
        return own.close(partial=False, active_alarms=())

    def _head(self, at_time: float) -> float | None:
        head = self.plan.head
        latest = self.depth.latest()
        if head is None or latest is None or at_time - latest[0] > self.plan.head_max_age_s:
            return None
        return latest[1] + head.outlet_height_m + head.friction_head_m

    def _derive(self, energy: float, start: float | None, end: float, seq: int | None,
                head_known: bool = True) -> None:
        head = self._head(end) if head_known else None
        max_ratio = self.plan.head.max_head_ratio if self.plan.head else 1.5
        choice = choose_k(self.book, end, head, self.plan.head_model, max_ratio, self.plan.fit,
                          self.plan.standard)
        if choice is None:
            self.acc["energy"].kinds["no_coefficient"] = (
                self.acc["energy"].kinds.get("no_coefficient", 0) + 1)
            log.debug("no 以电折水: no coefficient is valid at %s", end)
            return
        corrected = choice.note is None and choice.model not in (FIXED, STANDARD)
        part = next((d for d in self.derived if d.version == choice.version
                     and d.corrected == corrected and d.model in ("", choice.model)), None)
        if part is None:
            part = DerivedAmount(choice.version, corrected, model=choice.model)
            self.derived.append(part)
        part.energy += energy
        part.volume += energy * choice.k
        if corrected and head:
            part.energy_per_head += energy / head
            part.energy_head += energy * head
        part.versions = sorted(set(part.versions) | set(choice.versions))
        part.energy_u += energy * (choice.uncertainty or 0.0)
        part.u_known = part.u_known and choice.uncertainty is not None
        part.beyond_m = max(part.beyond_m, choice.beyond_m)
        if start is not None and (part.start is None or start < part.start):
            part.start = start
        part.end = end if part.end is None else max(part.end, end)
        if seq is not None:
            part.first_seq = seq if part.first_seq is None else part.first_seq
            part.last_seq = seq
        if choice.note and choice.note not in part.notes and len(part.notes) < MAX_NOTES:
            part.notes.append(choice.note)

    def close(self, partial: bool, active_alarms: Iterable[str]
              ) -> tuple[list[NewRecord], float | None]:
        """The interval's records (also added to the ledger) and its latest time; starts anew."""
        plan, ledger = self.plan, self.ledger
        outputs: list[NewRecord] = []
        faults = sorted(self.raised | set(active_alarms))
        common = {"interval_s": plan.interval_s, "partial": partial,
                  "meter_alarms": [k for k in faults if k.split("@")[0] in METER_FAULTS]}
        self.raised = set()
        volume, energy = self.acc["volume"], self.acc["energy"]
        compared = self._compare(volume, energy)  # [start, end, m³] of each, on its records
        metered_compared = None if compared is None else [compared[0], compared[1], compared[2]]
        derived_compared = None if compared is None else [compared[0], compared[1], compared[3]]
        if plan.volume is not None and not volume.empty:
            outputs.append(make(
                KIND_VOLUME, plan.volume.device, METERED, volume.amount, "m³",
                volume.end or 0.0, {"source": METERED, **_amount_data(volume), **common,
                                    "compared": metered_compared}))
            ledger.add(volume.start, volume.end or 0.0, volume.amount, METERED)
        if plan.energy is not None and not energy.empty:
            outputs.append(make(
                KIND_ENERGY, plan.energy.device, plan.energy.point, energy.amount, "kWh",
                energy.end or 0.0, {**_amount_data(energy), **common}))
            ledger.add(energy.start, energy.end or 0.0, energy.amount, "energy")
        for number, part in enumerate(self.derived):
            if part.energy <= 0 or plan.energy is None:
                continue
            outputs.append(make(
                KIND_VOLUME, plan.energy.device, DERIVED, part.volume, "m³", part.end or 0.0,
                {"source": DERIVED, "energy_kwh": part.energy,
                 "coefficient_version": part.version, "k_m3_per_kwh": part.volume / part.energy,
                 "head_model": plan.head_model, "head_m": _effective_head(part),
                 "note": "; ".join(part.notes) or None, "start": part.start, "end": part.end,
                 "seqs": [part.first_seq, part.last_seq], **common,
                 "compared": derived_compared if number == 0 else None, **_k_data(part)}))
            ledger.add(part.start, part.end or 0.0, part.volume, DERIVED)
        end = max([a.end for a in (volume, energy) if a.end is not None]
                  + [p.end for p in self.derived if p.end is not None], default=None)
        self.acc = {name: Amount() for name in TOTALISERS}
        self.derived = []
        return outputs, end

    def _compare(self, volume: Amount, energy: Amount) -> tuple[float, float, float, float] | None:
        """Both sources over the newest stretch their closed intervals cover (None: not yet)."""
        if self.comparison is None or self.plan.volume is None or self.plan.energy is None:
            return None
        metered = (volume.start, volume.end, volume.amount) if volume.readings else None
        derived = None  # energy with no coefficient to derive from is not compared
        if energy.readings and (self.derived or energy.amount == 0):
            derived = (energy.start, energy.end, sum(part.volume for part in self.derived))
        return self.comparison.settle(metered, derived)

    def to_state(self) -> dict[str, Any]:
        """The checkpoint's "acc", "derived" and "raised_in_interval" entries."""
        return {"acc": {name: asdict(acc) for name, acc in self.acc.items()},
                "derived": [asdict(part) for part in self.derived],
                "raised_in_interval": sorted(self.raised)}


def _effective_head(part: DerivedAmount) -> float | None:
    """The head that gives back the part's volume: harmonic mean for k ∝ 1/H, arithmetic for
    the fit's line (both energy-weighted)."""
    if not part.corrected or part.energy_per_head <= 0:
        return None
    if part.model == FIT:
        return part.energy_head / part.energy
    return part.energy / part.energy_per_head


def _k_data(part: DerivedAmount) -> dict[str, Any]:
    """What a derived record says of the k that made it: model, versions, uncertainty."""
    u = part.energy_u / part.energy if part.u_known else None
    return {"k_model": part.model or None, "k_model_version": KMODEL_VERSION,
            "coefficient_versions": part.versions, "k_uncertainty_m3_per_kwh": u,
            "volume_uncertainty_m3": None if u is None else u * part.energy,
            "calibrated": part.model != STANDARD, "beyond_calibrated_m": part.beyond_m}


def _base_unit(name: str) -> str:
    return "m³" if name == "volume" else "kWh"


def _amount_data(acc: Amount) -> dict[str, Any]:
    return {"start": acc.start, "end": acc.end, "seqs": [acc.first_seq, acc.last_seq],
            "readings": acc.readings, "kinds": acc.kinds, "held": acc.held,
            "flagged_readings": acc.flagged[:50], "confirmed_flags": acc.confirmed}
