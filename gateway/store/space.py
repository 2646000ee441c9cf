"""The writer thread's upkeep: free space (store_low_space, pruning, thinning) and retention age.

Every `maintenance_every` seconds the free space is checked: below the floor the alarm is raised,
delivered blocks are pruned and then undelivered history thinned (gateway/store/retention.py), a
few transactions per round, every second until it is back 10 % above the floor (when the alarm
clears). Every `retention_every` seconds delivered history older than the retention age is pruned.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from gateway.config import StoreSection
from gateway.store.notes import ALARM_LOW_SPACE
from gateway.store.retention import prune_delivered, thin_oldest
from gateway.store.writer import StoreWriter

log = logging.getLogger("gateway.store.sink")  # the sink's log, as before the split

LOW_SPACE_CLEAR_FACTOR = 1.1  # the alarm clears 10 % above the floor, so it does not flap
SPACE_STEPS_PER_ROUND = 5  # prune/thin transactions per maintenance round (the rest: next round)

NoteAlarm = Callable[[str, str, dict[str, Any]], None]


class SpaceKeeper:
    """When upkeep is due (`due_at`, monotonic) and what it does to the store's writer."""

    def __init__(self, settings: StoreSection, destinations: Sequence[str],
                 note_alarm: NoteAlarm, free_space: Callable[[], int] | None = None,
                 maintenance_every: float = 60.0, retention_every: float = 3600.0) -> None:
        self.settings = settings
        self.destinations = tuple(destinations)
        self._note_alarm = note_alarm
        self._free_space = free_space
        self._maintenance_every, self._retention_every = maintenance_every, retention_every
        self.low_space = False
        self._nothing_to_thin_logged = False
        now = time.monotonic()
        self.due_at = now  # a first space check right away
        self._retention_at = now + min(60.0, retention_every)  # not in the start-up rush

    def _free_bytes(self, writer: StoreWriter) -> int:
        if self._free_space is not None:
            return int(self._free_space())
        return writer.free_bytes()

    def maintain(self, writer: StoreWriter, writing_fails: bool) -> None:
        """Check the space and the retention age, if due (a failure to write is logged, at
        debug level while commits fail too, and tried again next round)."""
        now = time.monotonic()
        if now < self.due_at:
            return
        self.due_at = now + self._maintenance_every
        try:
            self._check_space(writer)
            if now >= self._retention_at:
                self._retention_at = now + self._retention_every
                cutoff = time.time() - self.settings.retention_days * 86400
                reason = (f"delivered to every uplink and older than "
                          f"{self.settings.retention_days:g} days")
                for _ in range(SPACE_STEPS_PER_ROUND):
                    if prune_delivered(writer, self.destinations, cutoff, reason) is None:
                        break
        except (sqlite3.Error, OSError) as exc:
            level = logging.DEBUG if writing_fails else logging.WARNING
            log.log(level, "store: maintenance could not write (%s); trying again later", exc)

    def _check_space(self, writer: StoreWriter) -> None:
        floor = int(self.settings.free_space_floor_mb * 1_000_000)
        free = self._free_bytes(writer)
        if free >= floor:
            if self.low_space and free >= floor * LOW_SPACE_CLEAR_FACTOR:
                self.low_space = False
                self._nothing_to_thin_logged = False
                log.warning("store: free space back to %d bytes (floor %d)", free, floor)
                self._note_alarm(ALARM_LOW_SPACE, "cleared", {"free_bytes": free,
                                                              "floor_bytes": floor})
            return
        if not self.low_space:
            self.low_space = True
            log.error("store: free space %d bytes is below the floor of %d bytes: pruning "
                      "delivered history, then thinning undelivered history", free, floor)
            self._note_alarm(ALARM_LOW_SPACE, "raised", {"free_bytes": free,
                                                         "floor_bytes": floor})
        self.due_at = time.monotonic() + 1.0  # keep at it while space is low
        reason = f"free space {free} bytes below the floor of {floor} bytes"
        for _ in range(SPACE_STEPS_PER_ROUND):
            if prune_delivered(writer, self.destinations, None, reason) is None:
                break
            free = self._free_bytes(writer)
            if free >= floor * LOW_SPACE_CLEAR_FACTOR:
                return
        for _ in range(SPACE_STEPS_PER_ROUND):
            result = thin_oldest(writer, self.settings.thin_keep_interval, reason, free, floor)
            if result is None:
                if not self._nothing_to_thin_logged:
                    self._nothing_to_thin_logged = True
                    log.error("store: free space still low and all history is thinned already")
                self.due_at = time.monotonic() + self._maintenance_every
                return
            free = self._free_bytes(writer)
            if free >= floor * LOW_SPACE_CLEAR_FACTOR:
                return
