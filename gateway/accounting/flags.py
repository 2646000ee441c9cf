"""Installer flags and commands in the engine: held amounts, their confirmation, meter swaps."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from gateway.accounting.counters import (
    CLOSED,
    OPEN,
    REPLACEMENT,
    SETTLED,
    Interval,
    TotaliserTracker,
)
from gateway.accounting.intervals import HeldAmount
from gateway.accounting.periods import METERED
from gateway.accounting.plan import Totaliser
from gateway.accounting.records import KIND_FLAG
from gateway.store.records import Record

log = logging.getLogger(__name__)

MAX_OPEN_FLAGS = 100  # held amounts awaiting a person, kept in the checkpoint (newest)


class FlagBook:
    """The flags awaiting a person (by seq) and those already decided, confirm or reject."""

    def __init__(self, lookup: Callable[[int], Record | None],
                 open_flags: dict[str, dict[str, Any]] | None = None,
                 confirmed: list[int] | None = None) -> None:
        self.lookup = lookup  # a committed record by its seq (the flag a command names)
        self.open: dict[str, dict[str, Any]] = dict(open_flags or {})
        self.confirmed: set[int] = set(confirmed or [])

    def note_flag(self, record: Record) -> bool:
        """A flag record read back live: keep it open until a person decides; True if it changed
        the book. A flag of an episode already open updates that one (its held amount, status);
        its closing flag removes it."""
        if str(record.seq) in self.open or not isinstance(record.value, int | float):
            return False
        data = record.data or {}
        if data.get("kind") == REPLACEMENT:  # a swap ends the old meter's episode as it stood
            for entry in self.open.values():
                if (entry["device"], entry["point"]) == (record.device, record.point) and (
                        entry.get("status") == OPEN):
                    entry["status"] = SETTLED
        key = self._episode_entry(record.device, record.point, data.get("episode"))
        status = data.get("episode_status")
        if key is not None:
            entry = self.open[key]
            if status == CLOSED or (status == SETTLED and record.value <= 0):
                del self.open[key]
            else:  # a settling reading is plausible: the held amount's span ends where it was
                end = entry.get("end") if status == SETTLED else data.get("end")
                entry.update(held=record.value, kind=data.get("kind"), flag=data.get("flag"),
                             status=status, end=end, latest=record.seq)
            return True
        if record.value <= 0 or status == CLOSED:
            return False
        self.open[str(record.seq)] = {
            "device": record.device, "point": record.point, "held": record.value,
            "unit": record.unit, "kind": data.get("kind"), "at": record.wall_time,
            "flag": data.get("flag"), "episode": data.get("episode"), "status": status,
            "start": data.get("start"), "end": data.get("end"), "latest": record.seq}
        for seq in sorted(self.open, key=int)[:-MAX_OPEN_FLAGS]:
            del self.open[seq]
        return True

    def _episode_entry(self, device: str | None, point: str | None, episode: Any) -> str | None:
        """The open entry (its seq) of one totaliser's episode, if one is open."""
        if episode is None:
            return None
        return next((seq for seq, entry in self.open.items() if entry.get("episode") == episode
                     and (entry["device"], entry["point"]) == (device, point)), None)

    def confirm(self, command_seq: int, flag_seq: int, decision: Any
                ) -> tuple[bool, HeldAmount | None]:
        """A person's decision on a flag: (whether it was an open flag, the amount to count now
        if they let it count)."""
        flag = self.lookup(flag_seq)
        if flag is None or flag.kind != KIND_FLAG or flag_seq in self.confirmed:
            log.error("confirm: seq %d is not an open flag; command %d ignored", flag_seq,
                      command_seq)
            return False, None
        data = flag.data or {}
        held = float(flag.value or 0.0)
        start, end = data.get("start"), float(data.get("end") or flag.wall_time or 0.0)
        if data.get("episode") is not None:  # the episode's amount now, not this record's
            key = self._episode_entry(flag.device, flag.point, data["episode"])
            entry = self.open.get(key) if key is not None else None
            if entry is not None and entry.get("status") == OPEN:
                log.error("confirm: flag %d's held amount is still changing (readings not yet "
                          "back on a plausible track); command %d ignored, confirm it later",
                          flag_seq, command_seq)
                return False, None
            if entry is None:
                log.info("confirm: flag %d's episode closed itself or holds nothing; nothing to"
                         " count", flag_seq)
                held = 0.0
            else:
                held, start = float(entry["held"]), entry.get("start", start)
                end = float(entry.get("end") or end)
                self.confirmed.add(int(key))  # type: ignore[arg-type]
                del self.open[key]  # type: ignore[arg-type]
        self.confirmed.add(flag_seq)
        self.open.pop(str(flag_seq), None)
        if decision != "count" or held <= 0:
            return True, None
        # the amount belongs to when it was counted by the meter
        name = "volume" if data.get("source") == METERED else "energy"
        return True, HeldAmount(name, start, end, held, flag_seq)

    def to_state(self) -> dict[str, Any]:
        """The checkpoint's "confirmed" and "open_flags" entries."""
        return {"confirmed": sorted(self.confirmed), "open_flags": self.open}


def meter_replacement(command: Record, totals: Mapping[str, Totaliser],
                      trackers: Mapping[str, TotaliserTracker]) -> tuple[str, Interval] | None:
    """A replace_meter command: the totaliser it names and the interval the swap closes (None,
    logged, when it names no totaliser accounting counts or its numbers are unusable)."""
    data = command.data or {}
    device, point = data.get("device"), data.get("point")
    name = next((n for n, total in totals.items()
                 if (total.device, total.point) == (device, point)), None)
    if name is None:
        log.error("replace_meter: %s/%s is not a totaliser accounting counts", device, point)
        return None
    try:
        interval = trackers[name].replace(
            float(data["new_start"]), float(data.get("at_time") or command.wall_time or 0.0),
            None if data.get("old_final") is None else float(data["old_final"]))
    except (KeyError, TypeError, ValueError) as error:
        log.error("replace_meter command %d: %s", command.seq, error)
        return None
    return name, interval
