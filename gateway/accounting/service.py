"""The accounting room in the gateway process: tails the store, writes derived records back.

The store is the interface: the room reads committed records by seq from its cursor with its own
read-only connection, and writes through the StoreSink as groups (output + checkpoint, one signed
block each). On start it finds the newest checkpoint, restores the engine, and replays the records
its alarm windows need from the store. It also turns what the gateway process itself observes
(devices going offline, the clock's synchronisation) into `health` records, so that those alarms
too are judged from the store.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.accounting.engine import AccountingEngine
from gateway.accounting.plan import AccountingPlan, build_plan
from gateway.accounting.pump import KIND_RELAY, coil_value, relay_record
from gateway.accounting.records import (
    CLOCK_POINT,
    GATEWAY_DEVICE,
    STATE_POINT,
    health,
    latest_checkpoint,
)
from gateway.store import DB_FILE, open_reader
from gateway.store.queries import has_record_after, record_at, records_after
from gateway.store.records import NewRecord
from gateway.wallclock import kernel_synchronised as clock_synchronised

log = logging.getLogger(__name__)

BATCH = 2000  # records read per query
RETRY_S = 5.0  # a failed relay write is tried again after this


class AccountingRoom:
    """Runs the engine over the store: `start()`, `step()` (or the thread), `close()`."""

    def __init__(self, plan: AccountingPlan, sink: Any, state_dir: Path,
                 clock_probe: Callable[[], tuple[int | None, str]] = clock_synchronised,
                 poll_s: float = 1.0, reassert_every_s: float = 60.0) -> None:
        self.plan = plan
        self.sink = sink  # a StoreSink: append_group, append_record, flush
        self.path = Path(state_dir) / DB_FILE
        self.clock_probe = clock_probe
        self.poll_s = poll_s
        self.engine: AccountingEngine | None = None
        self._conn: sqlite3.Connection | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._seen_changes: Any = None
        self._clock_next = 0.0
        self._clock_last: int | str | None = "unset"
        self.groups_written = 0
        self._commands: queue.SimpleQueue[tuple[int, str, dict[str, Any]]] = queue.SimpleQueue()
        self._summary: dict[str, Any] = {}
        self.reassert_every_s = reassert_every_s  # the cut-off coil read back and held
        self._retry: list[tuple[float, int, str, dict[str, Any]]] = []  # (due, request)
        self._reassert_due = 0.0

    @classmethod
    def from_config(cls, config: Any, sink: Any, **options: Any) -> AccountingRoom:
        return cls(build_plan(config), sink, Path(config.gateway.state_dir), **options)

    # -- the store side ---------------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection | None:
        if self._conn is None and self.path.exists():
            self._conn = open_reader(self.path)
        return self._conn

    def start(self) -> AccountingEngine:
        """Restore from the newest checkpoint and replay the alarm windows' records."""
        conn = self._reader()
        lookup = self._lookup
        checkpoint = latest_checkpoint(conn) if conn is not None else None
        if checkpoint is None:
            self.engine = AccountingEngine(self.plan, lookup=lookup)
            log.info("accounting: no checkpoint; starting from the first record")
            return self.engine
        state = checkpoint.data
        engine = AccountingEngine(self.plan, state, lookup=lookup)
        cursor, replayed = engine.cursor, 0
        position = int(state.get("replay_from", cursor + 1)) - 1
        while conn is not None and position < cursor:
            batch = records_after(conn, position, BATCH, through=cursor)
            if not batch:
                break
            for record in batch:
                engine.replay(record)
            replayed += len(batch)
            position = batch[-1].seq
        log.info("accounting: resumed at seq %d (checkpoint %d), %d records replayed for the "
                 "alarm windows", cursor, checkpoint.seq, replayed)
        for seq, (point, data) in sorted(engine.pending_relay.items(), key=lambda i: int(i[0])):
            self._commands.put((int(seq), point, data))  # not answered before the stop
        self.engine = engine
        return engine

    def _lookup(self, seq: int):
        conn = self._reader()
        return None if conn is None else record_at(conn, seq)

    def step(self, limit: int | None = None) -> int:
        """Account every record committed since the cursor (at most `limit`); returns how many."""
        with self._lock:
            if self.engine is None:
                self.start()
            engine, conn = self.engine, self._reader()
            assert engine is not None
            if conn is None:
                return 0
            done = 0
            while limit is None or done < limit:
                batch = records_after(conn, engine.cursor, min(BATCH, limit - done)
                                      if limit is not None else BATCH)
                if not batch:
                    break
                for record in batch:
                    try:
                        engine.process(record)
                    except Exception:  # a bug on one record: it gets no effect at all
                        log.exception("accounting: record %d could not be accounted; it is "
                                      "skipped", record.seq)
                        engine = self._recover(record.seq)
                        break
                    self._write(engine.take_group())
                    while engine.commands:  # handed to the acquisition's loop, without the lock
                        self._commands.put(engine.commands.pop(0))
                done += len(batch)
            return done

    def _recover(self, failed_seq: int) -> AccountingEngine:
        """After a record raised: commit every group queued, restore the newest checkpoint (the
        half-applied engine is dropped), account again up to the record, then skip it."""
        if not self.sink.flush():
            raise RuntimeError("accounting: the store did not commit the queued groups; not "
                               "restoring the checkpoint over them")
        self.engine = None
        engine, conn = self.start(), self._reader()
        while conn is not None and engine.cursor < failed_seq - 1:
            batch = records_after(conn, engine.cursor, BATCH, through=failed_seq - 1)
            if not batch:
                break
            for record in batch:
                engine.process(record)
                self._write(engine.take_group())
        if engine.cursor < failed_seq:
            engine.skip(failed_seq)
            self._write(engine.take_group())
        return engine

    def _write(self, group: list[NewRecord]) -> None:
        if group:
            self.sink.append_group(group)
            self.groups_written += 1

    def summary(self) -> dict[str, Any]:
        """Today's and this year's totals by source and the alarms raised now (the demo's view,
        taken between two records; the last one while the room is busy: never blocks long)."""
        if not self._lock.acquire(timeout=0.05):
            return self._summary
        try:
            engine = self.engine
            if engine is None or engine.last_time is None:
                return {}
            ledger = engine.ledger
            today = ledger.local_date(engine.last_time)
            sources = ("metered", "derived", "energy")
            comparison = engine.interval.comparison
            same = comparison.ledger if comparison is not None else None
            self._summary = {
                "day": today.isoformat(), "accounted_to": engine.last_time,
                "today": {s: ledger.day(today, s) for s in sources},
                "year": {s: ledger.year(today.year, s) for s in sources},
                "compared_today": None if same is None else {
                    s: same.day(today, s) for s in ("metered", "derived")},
                "active": engine.board.active(), "recent": list(engine.board.recent),
            }
            return self._summary
        finally:
            self._lock.release()

    # -- what the gateway process observes -------------------------------------------------------
    def note_health(self, board: Any, now: float | None = None) -> None:
        """Record devices' state changes from the acquisition's health board (call from the
        acquisition's own loop), and the clock's state when it changed or is due."""
        changes = list(board.changes)
        start = 0
        if self._seen_changes is not None:
            start = next((i + 1 for i in range(len(changes) - 1, -1, -1)
                          if changes[i] is self._seen_changes), 0)
        for change in changes[start:]:
            self.sink.append_record(health(change.device, STATE_POINT, change.state,
                                           change.reason))
        if changes:
            self._seen_changes = changes[-1]
        now = time.monotonic() if now is None else now
        if self.plan.clock is not None and now >= self._clock_next:
            self._clock_next = now + self.plan.clock_check_every_s
            value, how = self.clock_probe()
            if value != self._clock_last:
                self._clock_last = value
                self.sink.append_record(health(GATEWAY_DEVICE, CLOCK_POINT, value, how))
        self._wake.set()

    def check_clock_soon(self) -> None:
        """The clock stepped or its flag changed: record its state at the next note_health()."""
        self._clock_next = 0.0

    # -- 以电控水: the relay writes the engine asked for ---------------------------------------
    def take_commands(self) -> list[tuple[int, str, dict[str, Any]]]:
        """Committed pump requests not yet handed out (request seq, cut_off/restore, data)."""
        commands = []
        while not self._commands.empty():
            commands.append(self._commands.get_nowait())
        return commands

    async def act(self, acquisition: Any) -> None:
        """Carry out the pending relay writes on the relay's bus (call from the acquisition's
        loop); each is logged as a `relay` record, and one already logged is not repeated."""
        now = time.monotonic()
        commands = self.take_commands()
        newest = max([seq for seq, _, _ in commands] + [e[1] for e in self._retry], default=0)
        due = [(seq, point, data) for at, seq, point, data in self._retry
               if at <= now and seq == newest]  # a newer request supersedes a failed one
        self._retry = [entry for entry in self._retry if entry[0] > now and entry[1] == newest]
        for seq, point, data in [*due, *commands]:
            if self._carried_out(seq):
                log.info("pump control: request %d was carried out before; not repeated", seq)
                continue
            if not await self._write_coil(acquisition, seq, point, data):
                self._retry.append((now + RETRY_S, seq, point, data))
        if now >= self._reassert_due and not self._retry:  # a retry is writing it already
            self._reassert_due = now + self.reassert_every_s
            await self._hold_cut_off(acquisition)

    def _carried_out(self, request_seq: int) -> bool:
        if not self.path.exists():
            return False
        conn = open_reader(self.path)
        try:
            return has_record_after(conn, request_seq, KIND_RELAY, "carried_out", request_seq)
        finally:
            conn.close()

    async def _hold_cut_off(self, acquisition: Any) -> None:
        """While a cut-off is in force, read the coil back (FC 1) and write it again if it is
        not as the cut-off left it (a relay power-cycled, switched by hand)."""
        engine = self.engine
        pump = engine.pump if engine is not None else None
        if pump is None or pump.control.dry_run or pump.cut_at is None or pump.released:
            return
        found = await self._coil_state(acquisition)
        on = coil_value("cut_off", {"coil_stops_pump": pump.control.coil_stops_pump})
        if found is None or found == on:
            return
        log.warning("pump control: coil %d reads %s during the cut-off; writing it again",
                    pump.control.coil, "on" if found else "off")
        await self._write_coil(acquisition, 0, "reassert", {
            "coil_stops_pump": pump.control.coil_stops_pump}, found=found)

    def _relay(self, acquisition: Any) -> tuple[Any, Any]:
        device = self.plan.pump_control.relay_device or ""
        poller = next((p for p in acquisition.pollers
                       if any(d.name == device for d in p.devices)), None)
        polled = next((d for d in poller.devices if d.name == device), None) if poller else None
        return poller, polled

    async def _coil_state(self, acquisition: Any) -> bool | None:
        """The relay coil as read back with FC 1 (None when it cannot be read)."""
        poller, polled = self._relay(acquisition)
        if poller is None or polled is None or not hasattr(poller.transport, "read"):
            return None
        try:
            bits = await poller.transport.read(polled.slave_id, 1, self.plan.pump_control.coil, 1)
        except Exception as exc:  # TransactionFailed, a closed port: the next period tries again
            log.warning("pump control: the coil could not be read back: %s", exc)
            return None
        return bool(bits[0]) if bits else None

    async def _write_coil(self, acquisition: Any, seq: int, point: str,
                          data: dict[str, Any], **extra: Any) -> bool:
        """Write the coil and read it back; logged as a relay record. True if it holds."""
        control = self.plan.pump_control
        device = control.relay_device or ""
        on = coil_value(point, data)
        poller, polled = self._relay(acquisition)
        error = ""
        if poller is None or polled is None or not hasattr(poller.transport, "write_coil"):
            error = f"relay device {device!r} is not polled on a Modbus bus"
        else:
            try:
                await poller.transport.write_coil(polled.slave_id, control.coil, on)
            except Exception as exc:  # TransactionFailed, a closed port: retried, alarm follows
                error = str(exc) or type(exc).__name__
        if not error:
            found = await self._coil_state(acquisition)
            if found is not None and found != on:
                error = (f"coil {control.coil} read back {'on' if found else 'off'} after "
                         f"writing {'on' if on else 'off'}")
        if error:
            log.error("pump control: %s of request %d failed (tried again in %g s): %s",
                      point, seq, RETRY_S, error)
        self.sink.append_record(relay_record(seq, point, device, control.coil, on, not error,
                                             error, **extra))
        return not error

    # -- the thread -------------------------------------------------------------------------------
    def run_in_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="accounting", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # the room must outlive a bug; the store keeps the readings
                log.exception("accounting: step failed; trying again")
                self._flush_quietly()  # queued groups commit before the checkpoint is restored
                self._reset_reader()
                self._stop.wait(5.0)
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _flush_quietly(self) -> None:
        try:
            self.sink.flush()
        except Exception:
            log.exception("accounting: flushing the queued groups failed")

    def _reset_reader(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn, self.engine = None, None

    def close(self, final: bool = True) -> None:
        """Stop the thread; with `final`, account what is committed and write the interval so
        far (call after the store's last flush, then flush again)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10.0)
        if final:
            try:
                self.step()
                with self._lock:
                    if self.engine is not None:
                        self.engine.close_partial()
                        self._write(self.engine.take_group())
            except Exception:
                log.exception("accounting: final step failed")
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def start_accounting(config: Any, sink: Any, **options: Any) -> AccountingRoom | None:
    """The accounting room of a config with [well.accounting] (None without one), running."""
    if config.well.accounting is None:
        return None
    room = AccountingRoom.from_config(config, sink, **options)
    room.run_in_thread()
    return room
