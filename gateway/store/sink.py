"""StoreSink: the acquisition's ReadingSink over the store. accept() never blocks and never raises.

Readings wait in a bounded memory buffer; one writer thread commits them as signed blocks when
`commit_max` are waiting, when the oldest has waited `commit_interval` seconds, on flush() and on
close(); the first readings after start commit at once, so a restart shows its first reading
then. A failed commit (disk full, I/O error) is rolled back and its readings go back to the
front of the buffer; the error is logged once per change, retries back off from 1 s to 30 s, and
the first commit that works again carries a store_write_failing alarm (raised at the first
failure, cleared now). Only when the buffer itself is full are the oldest readings dropped:
counted, logged, and recorded in the log as a "readings_dropped" store_event (the store's own
records: gateway/store/notes.py). The same thread checks free space every minute and prunes
delivered history older than the retention age hourly (gateway/store/space.py).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway import wallclock
from gateway.backoff import Backoff
from gateway.config import StoreSection
from gateway.readings import Reading
from gateway.store import chain, notes
from gateway.store.block_rows import Entry
from gateway.store.keys import load_private_key
from gateway.store.records import NewRecord, from_reading
from gateway.store.schema import Connect, connect_file
from gateway.store.space import SpaceKeeper
from gateway.store.stats import StoreStats
from gateway.store.writer import Block, StoreWriter

log = logging.getLogger(__name__)


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
        self._on_commit = on_commit
        self._retry = Backoff(retry_initial, retry_max)

        self._cond = threading.Condition()
        # (intake monotonic time, entry): readings wait as they came; the writer stores them
        self._buffer: deque[tuple[float, Entry]] = deque()
        self._inflight = 0
        self._own: list[NewRecord] = []  # the store's own alarms and events, never dropped
        self._groups: list[list[NewRecord]] = []  # append_group(): each commits whole, in order
        self._flush_requested = False
        self._readings_committed = False  # the first readings since start commit at once
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
        self._retry_at = 0.0
        self._needs_reconnect = False
        self._space = SpaceKeeper(self.settings, self.destinations, self._note_alarm,
                                  free_space, maintenance_every, retention_every)

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

    def set_destinations(self, destinations: Sequence[str]) -> None:
        """The uplinks retention waits for from now on (a config reload added or removed one)."""
        self.destinations = self._space.destinations = tuple(destinations)

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
                low_space=self._space.low_space,
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
            if self._writer is not None:
                self._space.maintain(self._writer, self._failing_since is not None)
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
            if self._writer is None or self._commit_is_due(now) or now >= self._space.due_at:
                return
            wake = self._space.due_at
            if self._buffer:
                wake = min(wake, self._buffer[0][0] + self.settings.commit_interval)
            self._cond.wait(max(0.001, min(wake - now, 60.0)))

    def _commit_is_due(self, now: float) -> bool:
        if self._own or self._groups or self._dropped_unreported or self._rejected_unreported:
            return True
        if not self._buffer:
            return False
        return (self._flush_requested or self._closing or not self._readings_committed
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
                pending, reported = self._pending_notes()
            entries = own + pending + grouped + [entry for _, entry in batch]
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
        wall, mono = wallclock.now(), time.monotonic()
        pending = []
        if self._failing_since is not None:
            pending += notes.write_failing_alarms(self._failing_since, self._failed_attempts,
                                                  self._last_error, wall, mono)
        if self._dropped_unreported:
            pending.append(notes.readings_dropped(self._dropped_unreported, self._dropped_walls,
                                                  self.settings.buffer_max, wall, mono))
        if self._rejected_unreported:
            pending.append(notes.records_rejected(self._rejected_unreported, wall, mono))
        return pending, (self._dropped_unreported, self._rejected_unreported)

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
            self._readings_committed = self._readings_committed or self._inflight > 0
            self._inflight = 0
            self._committed_records += block.count
            self._committed_blocks += 1
            self._last_seq = block.last_seq
            if self._failing_since is not None:
                log.warning("store: writing again after %d failed attempt(s) over %.0f s",
                            self._failed_attempts, time.monotonic() - self._failing_since[1])
            self._failing_since = None
            self._failed_attempts = 0
            self._retry.reset()
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
            self._retry_at = time.monotonic() + self._retry.next()
            buffered = len(self._buffer)
            changed = text != self._last_error or first
            self._last_error = text
            if code != "SQLITE_FULL":  # after an I/O error, start again on a fresh connection
                self._needs_reconnect = self._writer is not None
        if changed:
            log.error("store: cannot write %s (%s%s); %d readings wait in memory (at most %d), "
                      "retrying every %g..%g s", self.path, text, f", {code}" if code else "",
                      buffered, self.settings.buffer_max, self._retry.initial, self._retry.maximum)
        else:
            log.debug("store: still cannot write (%s), attempt %d", text, self._failed_attempts)

    def _note_alarm(self, name: str, state: str, data: dict[str, Any]) -> None:
        """Queue one of the store's alarms for the next commit (never dropped)."""
        entry = notes.alarm(name, state, data)
        with self._cond:
            self._own.append(entry)
            self._cond.notify_all()
