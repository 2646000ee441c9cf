"""StoreSink: the acquisition's ReadingSink over the store. accept() never blocks and never raises.

Readings wait in a bounded memory buffer; one writer thread commits them as signed blocks when
`commit_max` are waiting, when the oldest has waited `commit_interval` seconds, on flush() and on
close(). A failed commit (disk full, I/O error) is rolled back and its readings go back to the
front of the buffer; the error is logged once per change, retries back off from 1 s to 30 s, and
the first commit that works again carries a store_write_failing alarm (raised at the first
failure, cleared now). Only when the buffer itself is full are the oldest readings dropped:
counted, logged, and recorded in the log as a "readings_dropped" store_event. The same thread
checks free space every minute (store_low_space alarm, pruning of delivered blocks, thinning:
gateway/store/retention.py) and prunes delivered history older than the retention age hourly.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.config import StoreSection
from gateway.readings import Reading
from gateway.store import chain
from gateway.store.block_rows import Entry
from gateway.store.keys import load_private_key
from gateway.store.records import (
    KIND_ALARM,
    KIND_STORE_EVENT,
    STORE_DEVICE,
    NewRecord,
    from_reading,
)
from gateway.store.retention import prune_delivered, thin_oldest
from gateway.store.schema import Connect, connect_file
from gateway.store.writer import Block, StoreWriter

log = logging.getLogger(__name__)

ALARM_WRITE_FAILING = "store_write_failing"
ALARM_LOW_SPACE = "store_low_space"
EVENT_READINGS_DROPPED = "readings_dropped"
EVENT_RECORDS_REJECTED = "records_rejected"
LOW_SPACE_CLEAR_FACTOR = 1.1  # the alarm clears 10 % above the floor, so it does not flap
SPACE_STEPS_PER_ROUND = 5  # prune/thin transactions per maintenance round (the rest: next round)


@dataclass(frozen=True)
class StoreStats:
    """What the store has done since it was opened (for the demo, health and tests)."""

    boot: int | None
    committed_records: int
    committed_blocks: int
    last_seq: int | None
    buffered: int
    dropped: int
    write_failing: bool
    last_error: str
    low_space: bool

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _encodable(entry: Entry) -> bool:
    try:
        record = from_reading(entry) if isinstance(entry, Reading) else entry
        chain.canonical_bytes(record.fields(0, 0))
    except (ValueError, TypeError, AttributeError):
        return False
    return True


class StoreSink:
    """Buffers readings and commits them to <state_dir>/wellgate.db from a writer thread."""

    def __init__(self, state_dir: Path, settings: StoreSection | None = None,
                 key: Ed25519PrivateKey | None = None, *, destinations: Sequence[str] = (),
                 connect: Connect = connect_file, max_page_count: int | None = None,
                 free_space: Callable[[], int] | None = None,
                 on_commit: Callable[[Block], None] | None = None,
                 retry_initial: float = 1.0, retry_max: float = 30.0,
                 maintenance_every: float = 60.0, retention_every: float = 3600.0) -> None:
        self.state_dir = Path(state_dir)
        self.settings = settings or StoreSection()
        self.key = key if key is not None else load_private_key(self.state_dir)
        self.destinations = tuple(destinations)
        self._connect, self._max_page_count = connect, max_page_count
        self._free_space = free_space
        self._on_commit = on_commit
        self._retry_initial, self._retry_max = retry_initial, retry_max
        self._maintenance_every, self._retention_every = maintenance_every, retention_every

        self._cond = threading.Condition()
        # (intake monotonic time, entry): readings wait as they came; the writer stores them
        self._buffer: deque[tuple[float, Entry]] = deque()
        self._inflight = 0
        self._own: list[NewRecord] = []  # the store's own alarms and events, never dropped
        self._groups: list[list[NewRecord]] = []  # append_group(): each commits whole, in order
        self._flush_requested = False
        self._closing = False
        self._close_deadline = float("inf")
        # counters and state (written by the writer thread, or under the lock)
        self._committed_records = self._committed_blocks = 0
        self._last_seq: int | None = None
        self._dropped = self._dropped_unreported = 0
        self._dropped_walls: list[float] = []  # first and last wall time of unreported drops
        self._rejected_unreported = 0
        self._failing_since: tuple[float, float] | None = None  # (wall, monotonic)
        self._failed_attempts = 0
        self._last_error = ""
        self._backoff = 0.0
        self._retry_at = 0.0
        self._needs_reconnect = False
        self._low_space = False
        self._nothing_to_thin_logged = False
        now = time.monotonic()
        self._maintenance_at = now  # a first space check right away
        self._retention_at = now + min(60.0, retention_every)  # not in the start-up rush

        self._writer: StoreWriter | None = None
        self._open_writer(raise_permanent=True)
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    # --- the acquisition side: never blocks, never raises ---------------------------------------

    def accept(self, readings: Iterable[Reading]) -> None:
        """Queue readings for the next commit (the acquisition's ReadingSink)."""
        try:
            now = time.monotonic()
            items = [(now, reading) for reading in readings]
            for _, reading in items:
                if not isinstance(reading, Reading):
                    raise TypeError(f"the store takes Reading objects; got {reading!r}")
            self._queue(items)
        except Exception:  # a sink must not break polling; what was not queued is counted
            log.exception("store: could not queue readings")

    def append_record(self, entry: NewRecord) -> None:
        """Queue a derived record (volume, alarm, health ...) with the readings."""
        try:
            self._queue([(time.monotonic(), entry)])
        except Exception:
            log.exception("store: could not queue a %s record", entry.kind)

    def append_group(self, entries: Sequence[NewRecord]) -> None:
        """Queue records that must be committed together, all in one block or none of them
        (accounting: derived records with the checkpoint that says they were made). Groups are
        never dropped and commit in the order given; raises ValueError for a record that has no
        canonical form (nothing of the group is queued then)."""
        group = list(entries)
        bad = [entry for entry in group if not _encodable(entry)]
        if bad:
            raise ValueError(f"{len(bad)} record(s) of a group of {len(group)} cannot be "
                             f"encoded (first: {bad[0].kind} {bad[0].device} {bad[0].point})")
        if not group:
            return
        with self._cond:
            self._groups.append(group)
            self._cond.notify_all()

    def _queue(self, items: list[tuple[float, Entry]]) -> None:
        if not items:
            return
        with self._cond:
            was_empty = not self._buffer
            self._buffer.extend(items)
            self._trim()
            if was_empty or len(self._buffer) >= self.settings.commit_max:
                self._cond.notify_all()

    def _trim(self) -> None:
        """Drop the oldest waiting readings beyond buffer_max (lock held)."""
        excess = len(self._buffer) + self._inflight - self.settings.buffer_max
        if excess <= 0:
            return
        excess = min(excess, len(self._buffer))
        if not self._dropped_unreported:
            log.error("store: memory buffer full (%d readings): dropping the oldest",
                      self.settings.buffer_max)
        for _ in range(excess):
            _, entry = self._buffer.popleft()
            self._dropped_walls = [self._dropped_walls[0] if self._dropped_walls
                                   else entry.wall_time, entry.wall_time]
        self._dropped += excess
        self._dropped_unreported += excess

    # --- control ------------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Commit everything waiting now; True once nothing waits (False after `timeout`)."""
        with self._cond:
            self._flush_requested = True
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: not self._buffer and not self._inflight and not self._own
                and not self._groups, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Commit what waits (trying for up to `timeout` s), stop the thread, close the file."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._close_deadline = time.monotonic() + timeout
            self._cond.notify_all()
        self._thread.join(timeout + 5.0)
        with self._cond:
            lost = len(self._buffer) + self._inflight
        if lost:
            log.error("store: closed with %d readings not committed (lost)", lost)
        if self._groups:
            log.error("store: closed with %d record group(s) not committed", len(self._groups))
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> StoreSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> StoreStats:
        with self._cond:
            return StoreStats(
                boot=None if self._writer is None else self._writer.boot,
                committed_records=self._committed_records,
                committed_blocks=self._committed_blocks,
                last_seq=self._last_seq,
                buffered=len(self._buffer) + self._inflight,
                dropped=self._dropped,
                write_failing=self._failing_since is not None,
                last_error=self._last_error,
                low_space=self._low_space,
            )

    @property
    def path(self) -> Path:
        return self.state_dir / "wellgate.db"

    # --- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                if not self._run_once():
                    return
            except Exception:  # the thread must outlive any bug: readings keep waiting
                log.exception("store: writer thread error; going on in 1 s")
                time.sleep(1.0)

    def _run_once(self) -> bool:
        """Wait for work and do it; False when closed."""
        with self._cond:
            self._wait_for_work()
            closing = self._closing
        reopen = self._writer is None or self._needs_reconnect
        if reopen and not self._open_writer(raise_permanent=False):
            return not closing or self._pause_while_closing()
        committed_all = self._commit_due(closing)
        if not closing:
            self._maintain()
            return True
        return not committed_all and self._pause_while_closing()

    def _pause_while_closing(self) -> bool:
        """Wait a little before another try while closing; False once the deadline passed."""
        remaining = self._close_deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(0.5, remaining))
        return True

    def _wait_for_work(self) -> None:
        """Sleep until a commit, a retry or maintenance is due, or close() (lock held)."""
        while not self._closing:
            now = time.monotonic()
            if now < self._retry_at:
                self._cond.wait(self._retry_at - now)
                continue
            if self._writer is None or self._commit_is_due(now) or now >= self._maintenance_at:
                return
            wake = self._maintenance_at
            if self._buffer:
                wake = min(wake, self._buffer[0][0] + self.settings.commit_interval)
            self._cond.wait(max(0.001, min(wake - now, 60.0)))

    def _commit_is_due(self, now: float) -> bool:
        if self._own or self._groups or self._dropped_unreported or self._rejected_unreported:
            return True
        if not self._buffer:
            return False
        return (self._flush_requested or self._closing
                or len(self._buffer) >= self.settings.commit_max
                or now - self._buffer[0][0] >= self.settings.commit_interval)

    def _open_writer(self, raise_permanent: bool) -> bool:
        """(Re)open the writer; False (and a retry scheduled) on a transient failure."""
        try:
            if self._writer is None:
                self._writer = StoreWriter(self.state_dir, self.key, connect=self._connect,
                                           max_page_count=self._max_page_count)
            else:
                self._writer.reconnect()
            self._needs_reconnect = False
            return True
        except (sqlite3.OperationalError, OSError) as exc:
            # disk full, I/O error, a locked database: polling goes on, readings wait
            self._failed(exc)
            return False
        except Exception as exc:
            if raise_permanent:
                raise
            self._failed(exc)
            return False

    def _commit_due(self, closing: bool) -> bool:
        """Commit batches while one is due; True when nothing is left waiting."""
        assert self._writer is not None
        while True:
            with self._cond:
                if not self._commit_is_due(time.monotonic()):
                    if not self._buffer:
                        self._flush_requested = False
                    self._cond.notify_all()
                    return not self._buffer
                count = min(len(self._buffer), self.settings.commit_max)
                batch = [self._buffer.popleft() for _ in range(count)]
                self._inflight = count
                own = list(self._own)
                groups = len(self._groups)
                grouped = [entry for group in self._groups for entry in group]
                notes, reported = self._pending_notes()
            entries = own + notes + grouped + [entry for _, entry in batch]
            try:
                block = self._writer.append(entries)
            except (ValueError, TypeError) as exc:  # a record that cannot be encoded at all
                good = [item for item in batch if _encodable(item[1])]
                log.error("store: %d record(s) cannot be encoded (%s): rejected",
                          len(batch) - len(good), exc)
                self._put_back(good, rejected=len(batch) - len(good))
                continue
            except Exception as exc:  # sqlite3.Error, OSError, StoreError: retried
                self._put_back(batch)
                self._failed(exc)
                return False
            self._committed(block, len(own), reported, groups)
            if closing and not self._buffer:
                return True

    def _pending_notes(self) -> tuple[list[NewRecord], tuple[int, int]]:
        """The alarms and events the next commit must carry, and the (dropped, rejected)
        counts they report (lock held)."""
        wall, mono = time.time(), time.monotonic()
        notes = []
        if self._failing_since is not None:
            since_wall, since_mono = self._failing_since
            notes.append(NewRecord.make(
                KIND_ALARM, STORE_DEVICE, ALARM_WRITE_FAILING, "raised", wall_time=since_wall,
                mono_time=since_mono, data={"alarm": ALARM_WRITE_FAILING,
                                            "error": self._last_error}))
            notes.append(NewRecord.make(
                KIND_ALARM, STORE_DEVICE, ALARM_WRITE_FAILING, "cleared", wall_time=wall,
                mono_time=mono, data={"alarm": ALARM_WRITE_FAILING,
                                      "failed_attempts": self._failed_attempts,
                                      "failing_seconds": round(mono - since_mono, 3),
                                      "last_error": self._last_error}))
        if self._dropped_unreported:
            first, last = self._dropped_walls
            notes.append(NewRecord.make(
                KIND_STORE_EVENT, STORE_DEVICE, EVENT_READINGS_DROPPED, self._dropped_unreported,
                "records", wall_time=wall, mono_time=mono,
                data={"event": EVENT_READINGS_DROPPED, "count": self._dropped_unreported,
                      "first_wall_time": first, "last_wall_time": last,
                      "buffer_max": self.settings.buffer_max,
                      "reason": "memory buffer full while the store could not keep up"}))
        if self._rejected_unreported:
            notes.append(NewRecord.make(
                KIND_STORE_EVENT, STORE_DEVICE, EVENT_RECORDS_REJECTED, self._rejected_unreported,
                "records", wall_time=wall, mono_time=mono,
                data={"event": EVENT_RECORDS_REJECTED, "count": self._rejected_unreported,
                      "reason": "content that has no canonical JSON form"}))
        return notes, (self._dropped_unreported, self._rejected_unreported)

    def _put_back(self, batch: list[tuple[float, Entry]], rejected: int = 0) -> None:
        with self._cond:
            self._buffer.extendleft(reversed(batch))
            self._inflight = 0
            self._rejected_unreported += rejected
            self._trim()

    def _committed(self, block: Block, own: int, reported: tuple[int, int],
                   groups: int = 0) -> None:
        with self._cond:
            del self._own[:own]
            del self._groups[:groups]
            self._inflight = 0
            self._committed_records += block.count
            self._committed_blocks += 1
            self._last_seq = block.last_seq
            if self._failing_since is not None:
                log.warning("store: writing again after %d failed attempt(s) over %.0f s",
                            self._failed_attempts, time.monotonic() - self._failing_since[1])
            self._failing_since = None
            self._failed_attempts = 0
            self._backoff = 0.0
            self._dropped_unreported -= reported[0]
            self._rejected_unreported -= reported[1]
            if not self._dropped_unreported:
                self._dropped_walls = []
            self._cond.notify_all()
        if self._on_commit is not None:
            try:
                self._on_commit(block)
            except Exception:
                log.exception("store: on_commit callback failed")

    def _failed(self, exc: BaseException) -> None:
        text = str(exc) or type(exc).__name__
        code = getattr(exc, "sqlite_errorname", "")
        with self._cond:
            first = self._failing_since is None
            if first:
                self._failing_since = (time.time(), time.monotonic())
            self._failed_attempts += 1
            self._backoff = (self._retry_initial if first
                             else min(self._backoff * 2, self._retry_max))
            self._retry_at = time.monotonic() + self._backoff
            buffered = len(self._buffer)
            changed = text != self._last_error or first
            self._last_error = text
            if code != "SQLITE_FULL":  # after an I/O error, start again on a fresh connection
                self._needs_reconnect = self._writer is not None
        if changed:
            log.error("store: cannot write %s (%s%s); %d readings wait in memory (at most %d), "
                      "retrying every %g..%g s", self.path, text, f", {code}" if code else "",
                      buffered, self.settings.buffer_max, self._retry_initial, self._retry_max)
        else:
            log.debug("store: still cannot write (%s), attempt %d", text, self._failed_attempts)

    # --- maintenance: free space, retention ----------------------------------------------------

    def _free_bytes(self) -> int:
        if self._free_space is not None:
            return int(self._free_space())
        assert self._writer is not None
        return self._writer.free_bytes()

    def _maintain(self) -> None:
        now = time.monotonic()
        if now < self._maintenance_at or self._writer is None:
            return
        self._maintenance_at = now + self._maintenance_every
        try:
            self._check_space()
            if now >= self._retention_at:
                self._retention_at = now + self._retention_every
                cutoff = time.time() - self.settings.retention_days * 86400
                reason = (f"delivered to every uplink and older than "
                          f"{self.settings.retention_days:g} days")
                for _ in range(SPACE_STEPS_PER_ROUND):
                    if prune_delivered(self._writer, self.destinations, cutoff, reason) is None:
                        break
        except (sqlite3.Error, OSError) as exc:
            level = logging.DEBUG if self._failing_since is not None else logging.WARNING
            log.log(level, "store: maintenance could not write (%s); trying again later", exc)

    def _check_space(self) -> None:
        assert self._writer is not None
        floor = int(self.settings.free_space_floor_mb * 1_000_000)
        free = self._free_bytes()
        if free >= floor:
            if self._low_space and free >= floor * LOW_SPACE_CLEAR_FACTOR:
                self._low_space = False
                self._nothing_to_thin_logged = False
                log.warning("store: free space back to %d bytes (floor %d)", free, floor)
                self._note_alarm(ALARM_LOW_SPACE, "cleared", {"free_bytes": free,
                                                              "floor_bytes": floor})
            return
        if not self._low_space:
            self._low_space = True
            log.error("store: free space %d bytes is below the floor of %d bytes: pruning "
                      "delivered history, then thinning undelivered history", free, floor)
            self._note_alarm(ALARM_LOW_SPACE, "raised", {"free_bytes": free,
                                                         "floor_bytes": floor})
        self._maintenance_at = time.monotonic() + 1.0  # keep at it while space is low
        reason = f"free space {free} bytes below the floor of {floor} bytes"
        for _ in range(SPACE_STEPS_PER_ROUND):
            if prune_delivered(self._writer, self.destinations, None, reason) is None:
                break
            free = self._free_bytes()
            if free >= floor * LOW_SPACE_CLEAR_FACTOR:
                return
        for _ in range(SPACE_STEPS_PER_ROUND):
            result = thin_oldest(self._writer, self.settings.thin_keep_interval, reason, free,
                                 floor)
            if result is None:
                if not self._nothing_to_thin_logged:
                    self._nothing_to_thin_logged = True
                    log.error("store: free space still low and all history is thinned already")
                self._maintenance_at = time.monotonic() + self._maintenance_every
                return
            free = self._free_bytes()
            if free >= floor * LOW_SPACE_CLEAR_FACTOR:
                return

    def _note_alarm(self, name: str, state: str, data: dict[str, Any]) -> None:
        entry = NewRecord.make(KIND_ALARM, STORE_DEVICE, name, state, wall_time=time.time(),
                               mono_time=time.monotonic(), data={"alarm": name, **data})
        with self._cond:
            self._own.append(entry)
            self._cond.notify_all()

